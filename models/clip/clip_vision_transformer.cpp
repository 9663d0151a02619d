#include "models/clip/clip_vision_transformer.h"

#include "engine/core/error.h"

namespace editclip {

ClipVisionTransformer::ClipVisionTransformer(const ClipVisionConfig& config, WeightStore& store,
                                             const std::string& prefix)
    : config_(config) {
  const int64_t d = config.hidden_size;
  const std::string e = prefix + ".embeddings.";
  class_embedding_ = store.get(e + "class_embedding", {d});
  patch_embedding_.bind(store, e + "patch_embedding", config.num_channels, d, config.patch_size,
                        config.patch_size, 0, /*has_bias=*/false);
  position_embedding_ = store.get(e + "position_embedding.weight", {config.num_positions(), d});
  // Older checkpoints carry the int64 arange buffer; positions are implicit here.
  store.consume_optional(e + "position_ids");
  pre_layrnorm_.bind(store, prefix + ".pre_layrnorm", d, config.layer_norm_eps);
  encoder_ = ClipEncoder(ClipEncoderShape::of(config), store, prefix + ".encoder");
  post_layernorm_.bind(store, prefix + ".post_layernorm", d, config.layer_norm_eps);
}

at::Tensor ClipVisionTransformer::embeddings(const at::Tensor& pixel_values) const {
  const int64_t b = pixel_values.size(0), d = config_.hidden_size;
  // [B, D, g, g] -> [B, g*g, D], patches in row-major order.
  at::Tensor patches = patch_embedding_(pixel_values).flatten(2).transpose(1, 2);
  at::Tensor cls = nn::match_dtype(class_embedding_, patches).view({1, 1, d}).expand({b, 1, d});
  return at::cat({cls, patches}, 1) + nn::match_dtype(position_embedding_, patches).unsqueeze(0);
}

ClipVisionTransformer::Output ClipVisionTransformer::forward(const at::Tensor& pixel_values,
                                                             bool hidden_states) const {
  const int64_t c = config_.num_channels, s = config_.image_size;
  if (!pixel_values.defined() || pixel_values.dim() != 4 || pixel_values.size(1) != c ||
      pixel_values.size(2) != s || pixel_values.size(3) != s) {
    const std::string got =
        pixel_values.defined() ? shape_string(pixel_values.sizes()) : std::string("nothing");
    if (pixel_values.defined() && pixel_values.dim() == 4 && pixel_values.size(1) != c)
      throw_error("CLIP vision tower: expected ", c,
                  " channels (vision_config.num_channels) in pixel_values, got ", got,
                  c == 6 ? " (EditCLIP takes [input RGB, edited RGB] concatenated on channels)"
                         : " (this model takes one RGB image per sample)");
    throw_error("CLIP vision tower: expected pixel_values [B, ", c, ", ", s, ", ", s, "], got ",
                got, " (preprocess images to vision_config.image_size = ", s, ")");
  }
  if (!at::isFloatingType(pixel_values.scalar_type()))
    throw_error("CLIP vision tower: pixel_values must be floating point (normalised pixels), got ",
                c10::toString(pixel_values.scalar_type()));

  at::Tensor x = pixel_values.to(position_embedding_.device());
  x = pre_layrnorm_(embeddings(x));
  Output out;
  if (hidden_states) out.hidden_states.push_back(x);
  out.last_hidden_state =
      encoder_.forward(x, /*causal=*/false, hidden_states ? &out.hidden_states : nullptr);
  out.pooler_output = post_layernorm_(out.last_hidden_state.select(1, 0));
  return out;
}

}  // namespace editclip
