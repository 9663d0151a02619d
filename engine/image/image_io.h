// Image files <-> uint8 RGB tensors (OpenCV codecs), and the tensor conversions the pipelines use
// at their edges.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace editclip {

struct LoadedImage {
  at::Tensor rgb;                  // [H,W,3] uint8, contiguous
  std::vector<std::string> notes;  // one line per conversion applied, for the user (stderr)
};

// Reads PNG, JPEG, WebP, BMP, TIFF, ... and converts to 8-bit RGB: grayscale is replicated,
// an alpha channel is composited over white (simply dropped when fully opaque), 16-bit samples
// are scaled to 8 bits with rounding; each conversion adds a note. Like PIL.Image.open, the EXIF
// orientation tag is not applied (pixels as stored). Errors: "<path>: no such file",
// "<path>: cannot decode image (unsupported or corrupt file)".
LoadedImage load_image_rgb(const std::string& path);
// False in builds with neither OpenCV nor libpng: image files then cannot be read or written,
// everything tensor-based still works. Without OpenCV but with libpng (image_io_libpng.cpp) only
// PNG, and JPEG where libjpeg was found, are read and written, with the same pixels and notes.
bool image_codecs_available();

// Writes [H,W,3] (or [H,W,1], [H,W,4] RGBA) uint8 by extension: .png, .jpg/.jpeg (quality 95),
// .bmp, .webp, .tif/.tiff. Error naming the path on any failure.
void save_image(const std::string& path, const at::Tensor& hwc_u8);
// save_image's extension rule in this build: an error naming the path and the extensions it
// writes when `path` has another one (front ends call it before any work, with the folder check
// of engine/io/output_path.h).
void check_image_save_extension(const std::string& path);

// [H,W,3] uint8 -> [1,3,H,W] float32 in [-1,1] = 2 * (u8 / 255) - 1 (diffusers' VaeImageProcessor).
at::Tensor image_to_tensor_m11(const at::Tensor& hwc_u8);
// [1,3,H,W] or [3,H,W] float in [0,1] -> [H,W,3] uint8 = round_half_even(float32(x * 255)),
// clamped to [0, 255] (diffusers' numpy_to_pil).
at::Tensor tensor01_to_u8(const at::Tensor& nchw01);

}  // namespace editclip
