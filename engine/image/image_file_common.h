// Pieces every image file back end (image_io.cpp with OpenCV, image_io_libpng.cpp without) shares,
// so that both builds give the same errors and the same 8-bit values.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace editclip {

// The whole file. Errors name the path: "no such file", "is a folder", "cannot open", "read error";
// a file removed while a loader thread reads it is reported as "no such file".
std::vector<uint8_t> read_image_file_bytes(const std::string& path);

// Writes (replaces) the whole file; errors name the path.
void write_image_file_bytes(const std::string& path, const void* data, size_t size);

// Refuses a PNG or JPEG file that ends early or is damaged, before any decoder sees it: decoders
// fill what is missing with grey (JPEG) or print their own messages (libpng) instead of failing
// cleanly. PNG: the chunk chain from the signature must reach IEND inside the file, and every
// chunk's CRC-32 must match. JPEG: the marker segments, and after each SOS its entropy-coded data
// (0xFF only followed by 0x00 or RST0-7), must reach EOI. Bytes after IEND/EOI are allowed. Other
// formats, and files with neither signature, pass.
// Error: "<path>: truncated JPEG: ... re-export or re-download it" (one line).
void check_image_file_intact(const std::string& path, const std::vector<uint8_t>& bytes);
// The walks themselves: true when the file is complete.
bool png_is_complete(const uint8_t* data, size_t size);
// The first chunk of a PNG whose CRC-32 is wrong ("IDAT chunk at byte 57"), or "".
std::string png_first_bad_checksum(const uint8_t* data, size_t size);
bool jpeg_is_complete(const uint8_t* data, size_t size);

// A sample of a `max_value`-scaled image (255, 65535, 1.0 for float) as 8 bits, rounded; NaN and
// negatives give 0.
uint8_t sample_to_u8(double v, double max_value);

// save_image's argument check: a non-empty [H,W,C] uint8 tensor with C = 1, 3 or 4.
void check_image_to_save(const std::string& path, const at::Tensor& hwc_u8);
// The extension of `path` in lower case, with its dot (".png"); empty when there is none.
std::string lowercase_extension(const std::string& path);

}  // namespace editclip
