#include "engine/image/image_file_common.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/core/crc32.h"
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

namespace editclip {

namespace {

uint32_t read_u32_be(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

bool has_png_signature(const uint8_t* data, size_t size) {
  return size >= 8 && std::memcmp(data, kPngSignature, 8) == 0;
}

bool has_jpeg_signature(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

bool is_rst(uint8_t marker) {
  return marker >= 0xD0 && marker <= 0xD7;
}

}  // namespace

std::string png_first_bad_checksum(const uint8_t* data, size_t size) {
  if (!has_png_signature(data, size)) return {};
  size_t pos = 8;
  while (size - pos >= 12) {
    const uint64_t length = read_u32_be(data + pos);
    if (length > size - pos - 12) return {};  // truncated: reported by png_is_complete
    const uint8_t* type = data + pos + 4;
    if (crc32(type, 4 + length) != read_u32_be(type + 4 + length))
      return concat(std::string(reinterpret_cast<const char*>(type), 4), " chunk at byte ", pos);
    if (std::memcmp(type, "IEND", 4) == 0) return {};
    pos += 12 + length;
  }
  return {};
}

bool png_is_complete(const uint8_t* data, size_t size) {
  if (!has_png_signature(data, size)) return false;
  size_t pos = 8;
  while (size - pos >= 12) {  // length, type, (data), crc
    const uint64_t length = read_u32_be(data + pos);
    const bool iend = std::memcmp(data + pos + 4, "IEND", 4) == 0;
    if (length > size - pos - 12) return false;
    pos += 12 + length;
    if (iend) return true;
  }
  return false;
}

bool jpeg_is_complete(const uint8_t* data, size_t size) {
  if (size < 2 || data[0] != 0xFF || data[1] != 0xD8) return false;
  size_t pos = 2;
  while (pos < size) {
    // A marker: 0xFF (any number of fill 0xFF bytes), then its code. Like libjpeg, stray bytes
    // before a marker are skipped.
    if (data[pos] != 0xFF) {
      ++pos;
      continue;
    }
    while (pos < size && data[pos] == 0xFF) ++pos;
    if (pos >= size) return false;
    const uint8_t marker = data[pos++];
    if (marker == 0xD9) return true;                                   // EOI
    if (marker == 0x00 || is_rst(marker) || marker == 0x01) continue;  // no length field
    if (size - pos < 2) return false;
    const size_t length = (size_t(data[pos]) << 8) | data[pos + 1];
    if (length < 2 || length > size - pos) return false;
    pos += length;
    if (marker != 0xDA) continue;
    // SOS: entropy-coded data up to the next marker that is not a stuffed 0x00 or RSTn.
    for (;;) {
      while (pos < size && data[pos] != 0xFF) ++pos;
      if (pos + 1 >= size) return false;
      const uint8_t next = data[pos + 1];
      if (next == 0x00 || is_rst(next)) {
        pos += 2;
        continue;
      }
      if (next == 0xFF) {  // fill byte before a marker
        ++pos;
        continue;
      }
      break;  // a marker: back to the segment walk
    }
  }
  return false;
}

void check_image_file_intact(const std::string& path, const std::vector<uint8_t>& bytes) {
  const uint8_t* data = bytes.data();
  const size_t size = bytes.size();
  if (has_png_signature(data, size) && !png_is_complete(data, size))
    throw_error(path, ": truncated PNG: the file (", size,
                " bytes) ends before its last chunk (IEND); re-export or re-download it");
  if (has_png_signature(data, size)) {
    const std::string bad = png_first_bad_checksum(data, size);
    if (!bad.empty())
      throw_error(path, ": corrupt PNG: the ", bad,
                  " fails its checksum (damaged file); re-export or re-download it");
  }
  if (has_jpeg_signature(data, size) && !jpeg_is_complete(data, size))
    throw_error(path, ": truncated JPEG: the file (", size,
                " bytes) ends before its end-of-image marker; re-export or re-download it");
}

}  // namespace editclip
