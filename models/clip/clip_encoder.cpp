#include "models/clip/clip_encoder.h"

#include "engine/core/torch_compat.h"

namespace editclip {

at::Tensor clip_activation(ClipActivation act, const at::Tensor& x) {
  switch (act) {
    case ClipActivation::QuickGelu:
      return x * at::sigmoid(x * 1.702);
    case ClipActivation::Gelu:
      return at::gelu(x);
    case ClipActivation::GeluTanh:
      return at::gelu(x, "tanh");
  }
  return x;
}

ClipEncoder::ClipEncoder(const ClipEncoderShape& shape, WeightStore& store,
                         const std::string& prefix)
    : shape_(shape) {
  const int64_t d = shape.hidden_size, m = shape.intermediate_size;
  layers_.resize(shape.num_layers);
  for (int64_t i = 0; i < shape.num_layers; ++i) {
    const std::string p = prefix + ".layers." + std::to_string(i) + ".";
    Layer& l = layers_[i];
    l.layer_norm1.bind(store, p + "layer_norm1", d, shape.layer_norm_eps);
    l.q_proj.bind(store, p + "self_attn.q_proj", d, d);
    l.k_proj.bind(store, p + "self_attn.k_proj", d, d);
    l.v_proj.bind(store, p + "self_attn.v_proj", d, d);
    l.out_proj.bind(store, p + "self_attn.out_proj", d, d);
    l.layer_norm2.bind(store, p + "layer_norm2", d, shape.layer_norm_eps);
    l.fc1.bind(store, p + "mlp.fc1", d, m);
    l.fc2.bind(store, p + "mlp.fc2", m, d);
  }
}

at::Tensor ClipEncoder::attention(const Layer& l, const at::Tensor& x, bool causal) const {
  const int64_t b = x.size(0), t = x.size(1), h = shape_.num_heads;
  const int64_t hd = shape_.hidden_size / h;
  // [B, T, D] -> [B, H, T, hd]
  auto heads = [&](const at::Tensor& y) { return y.view({b, t, h, hd}).transpose(1, 2); };
  at::Tensor out =
      nn::attention(heads(l.q_proj(x)), heads(l.k_proj(x)), heads(l.v_proj(x)), causal);
  return l.out_proj(out.transpose(1, 2).reshape({b, t, shape_.hidden_size}));
}

at::Tensor ClipEncoder::forward(at::Tensor x, bool causal,
                                std::vector<at::Tensor>* hidden_states) const {
  for (const Layer& l : layers_) {
    x = x + attention(l, l.layer_norm1(x), causal);
    x = x + l.fc2(clip_activation(shape_.activation, l.fc1(l.layer_norm2(x))));
    if (hidden_states) hidden_states->push_back(x);
  }
  return x;
}

}  // namespace editclip
