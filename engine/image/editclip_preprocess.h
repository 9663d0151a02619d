// The authors' EditCLIP input preprocessing (github QianWangX/EditCLIP): how an exemplar pair
// becomes the [1,6,S,S] pixel tensor of the 6-channel vision tower.
//
//   inference (eval_ip2p_transfer.py): PIL bicubic resize to (w, h) -> ToTensor (u8/255) ->
//     CLIPImageProcessor(do_rescale=False) on each image -> cat on channels.
//   training (dataset_wrapper.py): the same resize, then 2*(u8/255)-1 for the diffusion model and
//     (x+1)/2 of that for the processor, whose truncation to uint8 then drops one level for many
//     values; the training path is kept for the losses/training code.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "engine/image/clip_image_processor.h"

namespace editclip {

// torchvision ToTensor: uint8 [H,W,C] -> float32 [C,H,W] = u8 / 255 (float32 division).
at::Tensor to_unit_float(const at::Tensor& hwc_u8);
// dataset_wrapper.py: ((2 * (u8 / 255) - 1) + 1) / 2 in float32, [C,H,W].
at::Tensor to_train_unit_float(const at::Tensor& hwc_u8);
// PIL.Image.resize((w, h)) with Pillow's default (bicubic) filter.
at::Tensor authors_resize(const at::Tensor& hwc_u8, int64_t w, int64_t h);

// Inference path: [input, edited] uint8 [H,W,3] images (any sizes) -> [1,6,S,S] float32.
at::Tensor editclip_pair_pixels(const ClipImageProcessor& processor, const at::Tensor& input_u8,
                                const at::Tensor& edited_u8, int64_t resize_w, int64_t resize_h);
// Training path (same resize, to_train_unit_float instead of ToTensor) -> [1,6,S,S] float32.
at::Tensor editclip_pair_pixels_train(const ClipImageProcessor& processor,
                                      const at::Tensor& input_u8, const at::Tensor& edited_u8,
                                      int64_t resize_w, int64_t resize_h);

}  // namespace editclip
