// HF CLIPTextTransformer (weights under "text_model."): token + learned position embeddings,
// causal encoder, final_layer_norm, and pooling at the end-of-text token. Pooling follows
// transformers 4.49: configs with the legacy eos_token_id 2 (as the EditCLIP release) pool at
// argmax(input_ids); others at the first position holding eos_token_id.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "engine/io/weight_store.h"
#include "models/clip/clip_config.h"
#include "models/clip/clip_encoder.h"
#include "models/common/layers.h"

namespace editclip {

class ClipTextTransformer {
 public:
  struct Output {
    at::Tensor last_hidden_state;  // [B, T, D] final_layer_norm output
    at::Tensor pooler_output;      // [B, D] row at eos_index
    at::Tensor eos_index;          // [B] int64
  };

  ClipTextTransformer() = default;
  ClipTextTransformer(const ClipTextConfig& config, WeightStore& store,
                      const std::string& prefix = "text_model");

  // input_ids [B, T] integer token ids, T <= max_position_embeddings (77 for CLIP).
  Output forward(const at::Tensor& input_ids) const;

  // Pooling positions of input_ids [B, T] under this config's rule.
  at::Tensor eos_positions(const at::Tensor& input_ids) const;

  const ClipTextConfig& config() const { return config_; }

 private:
  ClipTextConfig config_;
  at::Tensor token_embedding_;     // [V, D]
  at::Tensor position_embedding_;  // [P, D]
  nn::LayerNorm final_layer_norm_;
  ClipEncoder encoder_;
};

}  // namespace editclip
