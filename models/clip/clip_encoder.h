// The pre-LayerNorm transformer encoder shared by both CLIP towers (HF `CLIPEncoder`):
//   x = x + out_proj(attention(layer_norm1(x)))
//   x = x + fc2(act(fc1(layer_norm2(x))))
// with multi-head attention softmax(q k^T / sqrt(head_dim)) v (causal for the text tower).
// Weights: <prefix>.layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, layer_norm2, mlp.fc1,
// mlp.fc2}.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "engine/io/weight_store.h"
#include "models/clip/clip_config.h"
#include "models/common/layers.h"

namespace editclip {

at::Tensor clip_activation(ClipActivation act, const at::Tensor& x);

struct ClipEncoderShape {
  int64_t hidden_size = 0, intermediate_size = 0, num_layers = 0, num_heads = 0;
  double layer_norm_eps = 1e-5;
  ClipActivation activation = ClipActivation::QuickGelu;

  // The encoder part of a text or vision tower config (both use the same field names).
  template <typename TowerConfig>
  static ClipEncoderShape of(const TowerConfig& config) {
    ClipEncoderShape shape;
    shape.hidden_size = config.hidden_size;
    shape.intermediate_size = config.intermediate_size;
    shape.num_layers = config.num_hidden_layers;
    shape.num_heads = config.num_attention_heads;
    shape.layer_norm_eps = config.layer_norm_eps;
    shape.activation = config.activation();
    return shape;
  }
};

class ClipEncoder {
 public:
  ClipEncoder() = default;
  ClipEncoder(const ClipEncoderShape& shape, WeightStore& store, const std::string& prefix);

  // [B, T, D] -> [B, T, D]. When `hidden_states` is given, the output of every layer is appended.
  at::Tensor forward(at::Tensor x, bool causal,
                     std::vector<at::Tensor>* hidden_states = nullptr) const;

  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }

 private:
  struct Layer {
    nn::LayerNorm layer_norm1, layer_norm2;
    nn::Linear q_proj, k_proj, v_proj, out_proj, fc1, fc2;
  };
  at::Tensor attention(const Layer& layer, const at::Tensor& x, bool causal) const;

  ClipEncoderShape shape_;
  std::vector<Layer> layers_;
};

}  // namespace editclip
