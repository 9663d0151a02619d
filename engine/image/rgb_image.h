// The public API's RgbImage <-> [H,W,3] uint8 tensors, for the engine parts (and tests) that take
// or return RgbImage but compute on tensors.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "engine/editclip.h"

namespace editclip {

// An [H,W,3] uint8 tensor over the image's pixels, without a copy: the image must outlive it (and
// stay unchanged) or the caller clones. Errors name `what`: an empty image, or a pixel buffer that
// does not hold width x height x 3 bytes.
at::Tensor rgb_view(const RgbImage& image, const std::string& what);

// A copy of an [H,W,3] tensor (any device, converted to uint8) as an RgbImage.
RgbImage rgb_image(const at::Tensor& hwc_u8);

}  // namespace editclip
