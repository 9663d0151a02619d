#include "engine/image/rgb_image.h"

#include "engine/core/error.h"

namespace editclip {

at::Tensor rgb_view(const RgbImage& image, const std::string& what) {
  if (image.empty()) throw_error(what, ": empty image");
  const size_t want = static_cast<size_t>(image.width) * image.height * 3;
  if (image.pixels.size() != want)
    throw_error(what, ": pixel buffer has ", image.pixels.size(), " bytes, expected ", want);
  return at::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 3},
                       at::kByte);
}

RgbImage rgb_image(const at::Tensor& hwc_u8) {
  const at::Tensor t = hwc_u8.to(at::kCPU).to(at::kByte).contiguous();
  RgbImage out;
  out.height = static_cast<int>(t.size(0));
  out.width = static_cast<int>(t.size(1));
  out.pixels.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
  return out;
}

}  // namespace editclip
