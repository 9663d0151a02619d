#include <cmath>

#include "engine/core/error.h"
#include "engine/image/image_io.h"

namespace editclip {

at::Tensor image_to_tensor_m11(const at::Tensor& hwc_u8) {
  if (!hwc_u8.defined() || hwc_u8.dim() != 3 || hwc_u8.scalar_type() != at::kByte ||
      hwc_u8.size(2) != 3)
    throw_error("image_to_tensor_m11: expected an [H,W,3] uint8 image");
  float table[256];
  for (int v = 0; v < 256; ++v) {
    // float32 division by 255, then 2x - 1, each rounded to float32 as numpy/torch do.
    const float unit = static_cast<float>(v) / 255.0f;
    table[v] = 2.0f * unit - 1.0f;
  }
  const at::Tensor src = hwc_u8.to(at::kCPU).contiguous();
  const int64_t h = src.size(0), w = src.size(1), plane = h * w;
  at::Tensor out = at::empty({1, 3, h, w}, at::TensorOptions().dtype(at::kFloat));
  const uint8_t* in = src.data_ptr<uint8_t>();
  float* o = out.data_ptr<float>();
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t c = 0; c < 3; ++c) o[c * plane + i] = table[in[i * 3 + c]];
  return out;
}

at::Tensor tensor01_to_u8(const at::Tensor& nchw01) {
  at::Tensor t = nchw01;
  if (t.defined() && t.dim() == 4) {
    if (t.size(0) != 1) throw_error("tensor01_to_u8: expected a batch of 1 image, got ", t.size(0));
    t = t[0];
  }
  if (!t.defined() || t.dim() != 3 || t.size(0) != 3 || !t.is_floating_point())
    throw_error("tensor01_to_u8: expected a [1,3,H,W] or [3,H,W] floating-point image");
  const at::Tensor src = t.detach().to(at::kCPU, at::kFloat).permute({1, 2, 0}).contiguous();
  at::Tensor out = at::empty(src.sizes(), src.options().dtype(at::kByte));
  const float* in = src.data_ptr<float>();
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t i = 0, n = src.numel(); i < n; ++i) {
    const float scaled = in[i] * 255.0f;
    const float r = std::nearbyint(scaled);  // numpy rounds half to even
    o[i] = !(r > 0) ? 0 : (r >= 255 ? 255 : static_cast<uint8_t>(r));
  }
  return out;
}

}  // namespace editclip
