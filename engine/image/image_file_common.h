// Pieces every image file back end (image_io.cpp with OpenCV, image_io_libpng.cpp without) shares,
// so that both builds give the same errors and the same 8-bit values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace editclip {

// The whole file. Errors name the path: "no such file", "is a folder", "cannot open", "read error";
// a file removed while a loader thread reads it is reported as "no such file".
std::vector<uint8_t> read_image_file_bytes(const std::string& path);

// A sample of a `max_value`-scaled image (255, 65535, 1.0 for float) as 8 bits, rounded; NaN and
// negatives give 0.
uint8_t sample_to_u8(double v, double max_value);

}  // namespace editclip
