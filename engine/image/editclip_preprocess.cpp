#include "engine/image/editclip_preprocess.h"

#include "engine/core/error.h"
#include "engine/image/pil_resample.h"

// The reference's float32 roundings are reproduced operation by operation.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace editclip {
namespace {

void check_u8(const at::Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 3 || t.scalar_type() != at::kByte || t.size(0) < 1 ||
      t.size(1) < 1)
    throw_error(what, ": expected a non-empty [H,W,C] uint8 image");
}

// uint8 [H,W,C] -> float32 [C,H,W] through a per-value function.
template <typename F>
at::Tensor map_to_chw(const at::Tensor& hwc_u8, F fn) {
  const at::Tensor src = hwc_u8.to(at::kCPU).contiguous();
  const int64_t h = src.size(0), w = src.size(1), c = src.size(2);
  float table[256];
  for (int v = 0; v < 256; ++v) table[v] = fn(static_cast<uint8_t>(v));
  at::Tensor out = at::empty({c, h, w}, src.options().dtype(at::kFloat));
  const uint8_t* in = src.data_ptr<uint8_t>();
  float* o = out.data_ptr<float>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t ch = 0; ch < c; ++ch) o[(ch * h + y) * w + x] = table[in[(y * w + x) * c + ch]];
  return out;
}

float unit(uint8_t v) {
  return static_cast<float>(v) / 255.0f;
}

float train_unit(uint8_t v) {
  const float m11 = 2.0f * unit(v) - 1.0f;
  return (m11 + 1.0f) / 2.0f;
}

at::Tensor pair(const ClipImageProcessor& processor, const at::Tensor& input_u8,
                const at::Tensor& edited_u8, int64_t w, int64_t h, bool train) {
  check_u8(input_u8, "EditCLIP input image");
  check_u8(edited_u8, "EditCLIP edited image");
  auto one = [&](const at::Tensor& img) {
    const at::Tensor resized = authors_resize(img, w, h);
    return processor.preprocess_float(train ? to_train_unit_float(resized)
                                            : to_unit_float(resized));
  };
  return at::cat({one(input_u8), one(edited_u8)}, 0).unsqueeze(0);
}

}  // namespace

at::Tensor to_unit_float(const at::Tensor& hwc_u8) {
  check_u8(hwc_u8, "to_unit_float");
  return map_to_chw(hwc_u8, unit);
}

at::Tensor to_train_unit_float(const at::Tensor& hwc_u8) {
  check_u8(hwc_u8, "to_train_unit_float");
  return map_to_chw(hwc_u8, train_unit);
}

at::Tensor authors_resize(const at::Tensor& hwc_u8, int64_t w, int64_t h) {
  // The authors open images with .convert("RGB"), so a resize always sees three channels.
  return pil_resize(hwc_u8, w, h, PilFilter::Bicubic);
}

at::Tensor editclip_pair_pixels(const ClipImageProcessor& processor, const at::Tensor& input_u8,
                                const at::Tensor& edited_u8, int64_t resize_w, int64_t resize_h) {
  return pair(processor, input_u8, edited_u8, resize_w, resize_h, false);
}

at::Tensor editclip_pair_pixels_train(const ClipImageProcessor& processor,
                                      const at::Tensor& input_u8, const at::Tensor& edited_u8,
                                      int64_t resize_w, int64_t resize_h) {
  return pair(processor, input_u8, edited_u8, resize_w, resize_h, true);
}

}  // namespace editclip
