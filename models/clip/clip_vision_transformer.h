// HF CLIPVisionTransformer (weights under "vision_model."): patch embedding without bias, class
// token, learned positions, pre_layrnorm (HF's spelling), encoder, post_layernorm on the class
// token. Any num_channels: EditCLIP's tower takes [input RGB, edited RGB] as 6 channels.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "engine/io/weight_store.h"
#include "models/clip/clip_config.h"
#include "models/clip/clip_encoder.h"
#include "models/common/layers.h"

namespace editclip {

class ClipVisionTransformer {
 public:
  struct Output {
    at::Tensor last_hidden_state;           // [B, 1+N, D] encoder output, BEFORE post_layernorm
    at::Tensor pooler_output;               // [B, D] post_layernorm(last_hidden_state[:, 0])
    std::vector<at::Tensor> hidden_states;  // L+1 entries [B, 1+N, D] (0: after pre_layrnorm)
  };

  ClipVisionTransformer() = default;
  ClipVisionTransformer(const ClipVisionConfig& config, WeightStore& store,
                        const std::string& prefix = "vision_model");

  // pixel_values [B, num_channels, image_size, image_size], CLIP-normalised; computed in the
  // input's floating dtype on the weights' device.
  Output forward(const at::Tensor& pixel_values, bool hidden_states = false) const;

  const ClipVisionConfig& config() const { return config_; }

 private:
  at::Tensor embeddings(const at::Tensor& pixel_values) const;

  ClipVisionConfig config_;
  at::Tensor class_embedding_;     // [D]
  nn::Conv2d patch_embedding_;     // [D, C, P, P], stride P, no bias
  at::Tensor position_embedding_;  // [1+N, D]
  nn::LayerNorm pre_layrnorm_, post_layernorm_;
  ClipEncoder encoder_;
};

}  // namespace editclip
