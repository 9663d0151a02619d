// Pillow 9.4 resizing, reproduced bit for bit.
//
// The released EditCLIP and the CLIP baselines were evaluated on pixels that went through
// PIL.Image.resize (the authors' 256x256 resize and CLIPImageProcessor's shortest-edge resize), so
// uint8 results must match PIL exactly: a generic bicubic differs by whole uint8 levels. The
// 8-bit path follows ImagingResample: separable convolution (horizontal pass first, each pass
// skipped when its dimension is unchanged), support = filter support * max(1, in/out),
// coefficients normalised to sum 1, then 22-bit fixed point, uint8 clamp after each pass.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace editclip {

// PIL.Image.Resampling codes (the integer `resample` of preprocessor_config.json).
enum class PilFilter : int {
  Nearest = 0,
  Lanczos = 1,
  Bilinear = 2,
  Bicubic = 3,
  Box = 4,
  Hamming = 5,
};

// Error on a code PIL does not define.
PilFilter pil_filter_from_code(int64_t code);
std::string pil_filter_name(PilFilter filter);

// PIL `Image.resize((out_w, out_h), filter)` of an 8-bit image: [H,W,C] uint8 (C = 1..4, any
// strides) -> [out_h, out_w, C] uint8, contiguous. Channels are resampled independently, as
// ImagingResample does for L/RGB/RGBX; PIL's Image.resize additionally premultiplies alpha for
// LA/RGBA images, which this does not (callers pass RGB). Same size returns a copy.
at::Tensor pil_resize(const at::Tensor& hwc_u8, int64_t out_w, int64_t out_h,
                      PilFilter filter = PilFilter::Bicubic);

// PIL resize of mode "F" (32-bit float) images, one per channel: [C,H,W] floating -> [C,out_h,
// out_w] float32. Double accumulation with the unquantised coefficients, float32 after each pass.
at::Tensor pil_resize_float(const at::Tensor& chw_float, int64_t out_w, int64_t out_h,
                            PilFilter filter = PilFilter::Bicubic);

}  // namespace editclip
