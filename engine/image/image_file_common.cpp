#include "engine/image/image_file_common.h"

#include <algorithm>
#include <cctype>
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

void write_image_file_bytes(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw_error(path, ": cannot write file (does the folder exist and is it writable?)");
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) throw_error(path, ": write failed (disk full?)");
}

uint8_t sample_to_u8(double v, double max_value) {
  if (!(v > 0)) return 0;  // also NaN
  const double scaled = std::round(v * 255.0 / max_value);
  return static_cast<uint8_t>(std::min(scaled, 255.0));
}

void check_image_to_save(const std::string& path, const at::Tensor& hwc_u8) {
  if (!hwc_u8.defined() || hwc_u8.dim() != 3 || hwc_u8.scalar_type() != at::kByte ||
      (hwc_u8.size(2) != 1 && hwc_u8.size(2) != 3 && hwc_u8.size(2) != 4) || hwc_u8.size(0) < 1 ||
      hwc_u8.size(1) < 1)
    throw_error(path, ": cannot save: expected a non-empty [H,W,3] uint8 image");
}

std::string lowercase_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext;
}

}  // namespace editclip
