#include "models/clip/clip_text_transformer.h"

#include "engine/core/error.h"

namespace editclip {

ClipTextTransformer::ClipTextTransformer(const ClipTextConfig& config, WeightStore& store,
                                         const std::string& prefix)
    : config_(config) {
  const int64_t d = config.hidden_size;
  const std::string e = prefix + ".embeddings.";
  token_embedding_ = store.get(e + "token_embedding.weight", {config.vocab_size, d});
  position_embedding_ =
      store.get(e + "position_embedding.weight", {config.max_position_embeddings, d});
  store.consume_optional(e + "position_ids");
  encoder_ = ClipEncoder(ClipEncoderShape::of(config), store, prefix + ".encoder");
  final_layer_norm_.bind(store, prefix + ".final_layer_norm", d, config.layer_norm_eps);
}

at::Tensor ClipTextTransformer::eos_positions(const at::Tensor& ids) const {
  if (config_.legacy_eos_pooling()) return ids.argmax(-1);
  // First match; a row without the token pools at position 0, as transformers does.
  return ids.eq(config_.eos_token_id).to(at::kInt).argmax(-1);
}

ClipTextTransformer::Output ClipTextTransformer::forward(const at::Tensor& input_ids) const {
  const int64_t max_len = config_.max_position_embeddings;
  if (!input_ids.defined() || input_ids.dim() != 2 || input_ids.size(1) < 1 ||
      input_ids.size(1) > max_len || at::isFloatingType(input_ids.scalar_type()))
    throw_error("CLIP text tower: expected integer input_ids [B, T] with 1 <= T <= ", max_len,
                " (text_config.max_position_embeddings), got ",
                input_ids.defined()
                    ? shape_string(input_ids.sizes()) + " " + c10::toString(input_ids.scalar_type())
                    : std::string("nothing"),
                " (tokenize the text with the model's CLIP tokenizer)");
  const at::Device device = token_embedding_.device();
  at::Tensor ids = input_ids.to(device, at::kLong);
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= config_.vocab_size)
      throw_error("CLIP text tower: token id ", lo < 0 ? lo : hi, " is outside the vocabulary [0, ",
                  config_.vocab_size,
                  ") of text_config.vocab_size (the tokenizer does not belong to this model)");
  }
  const int64_t t = ids.size(1);
  // Norms and activations stay fp32 on CPU even for reduced-precision weights.
  const at::ScalarType dtype = device.is_cpu() ? at::kFloat : token_embedding_.scalar_type();
  at::Tensor x = at::embedding(token_embedding_, ids).to(dtype) +
                 position_embedding_.narrow(0, 0, t).to(dtype).unsqueeze(0);
  x = final_layer_norm_(encoder_.forward(x, /*causal=*/true));

  Output out;
  out.last_hidden_state = x;
  out.eos_index = eos_positions(ids);
  const int64_t b = x.size(0), d = x.size(2);
  out.pooler_output = x.gather(1, out.eos_index.view({b, 1, 1}).expand({b, 1, d})).squeeze(1);
  return out;
}

}  // namespace editclip
