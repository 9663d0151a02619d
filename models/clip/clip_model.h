// HF transformers CLIPModel: both towers and their projections, bound from the release layout
// ("text_model.*", "vision_model.*", "text_projection.weight", "visual_projection.weight",
// "logit_scale"). EditCLIP (QWW/EditCLIP) is such a model with a 6-channel vision tower.
//
// Everything is functional ATen on plain weight tensors, so a training step can run autograd
// through either tower: mark the tensors of named_parameters() as requiring grad.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/weight_store.h"
#include "models/clip/clip_config.h"
#include "models/clip/clip_text_transformer.h"
#include "models/clip/clip_vision_transformer.h"
#include "models/common/layers.h"

namespace editclip {

struct ClipVisionOutput {
  at::Tensor last_hidden_state;  // [B, 1+N, D] BEFORE post_layernorm (what EditCLIP-IP2P projects)
  at::Tensor pooler_output;      // [B, D] post_layernorm(last_hidden_state[:, 0])
  at::Tensor image_embeds;       // [B, P] visual_projection(pooler_output), not normalised
  std::vector<at::Tensor> hidden_states;  // when asked: L+1 entries [B, 1+N, D]
};

struct ClipTextOutput {
  at::Tensor last_hidden_state;  // [B, T, D] final_layer_norm output
  at::Tensor pooler_output;      // [B, D] at eos_index
  at::Tensor text_embeds;        // [B, P] text_projection(pooler_output), not normalised
  at::Tensor eos_index;          // [B] int64
};

class ClipModel {
 public:
  ClipModel(const ClipConfig& config, WeightStore& store);

  // `dir`: an HF CLIPModel folder with config.json and model.safetensors (or a sharded
  // model.safetensors.index.json, or pytorch_model.bin as a torch zip checkpoint).
  static std::shared_ptr<ClipModel> load(const std::string& dir, WeightOptions opts = {});

  const ClipConfig& config() const { return config_; }

  // pixel_values [B, num_channels, image_size, image_size] (CLIP-normalised).
  ClipVisionOutput encode_image(const at::Tensor& pixel_values, bool hidden_states = false) const;
  // input_ids [B, T] (T <= max_position_embeddings).
  ClipTextOutput encode_text(const at::Tensor& input_ids) const;
  // The raw learnable parameter (log of the logit scale); fp32 scalar.
  at::Tensor logit_scale() const { return logit_scale_; }

  const ClipVisionTransformer& vision_model() const { return vision_; }
  const ClipTextTransformer& text_model() const { return text_; }
  // Every weight tensor by release name (shared with the model: setting requires_grad on one
  // makes the forward passes differentiable in it).
  const std::map<std::string, at::Tensor>& named_parameters() const { return parameters_; }

 private:
  ClipConfig config_;
  ClipTextTransformer text_;
  ClipVisionTransformer vision_;
  nn::Linear text_projection_, visual_projection_;
  at::Tensor logit_scale_;
  std::map<std::string, at::Tensor> parameters_;
};

}  // namespace editclip
