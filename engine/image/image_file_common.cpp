#include "engine/image/image_file_common.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/core/error.h"

namespace editclip {

std::vector<uint8_t> read_image_file_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_error(path, ": no such file");
  if (fs::is_directory(path, ec)) throw_error(path, ": is a folder, expected an image file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // Removed since the check above (e.g. while a loader thread reads it): say so.
    if (!fs::exists(path, ec)) throw_error(path, ": no such file");
    throw_error(path, ": cannot open (check the file's permissions)");
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) throw_error(path, ": read error");
  return bytes;
}

uint8_t sample_to_u8(double v, double max_value) {
  if (!(v > 0)) return 0;  // also NaN
  const double scaled = std::round(v * 255.0 / max_value);
  return static_cast<uint8_t>(std::min(scaled, 255.0));
}

}  // namespace editclip
