// Kind "clip_vision": HF CLIPModel vision tower (any num_channels) on given pixel values.
#include "engine/core/error.h"
#include "models/clip/clip_model.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

void check_clip_vision(ParityCase& c) {
  auto model = ClipModel::load(c.model_dir_or_first("clip").string());
  const auto& cfg = model->config().vision;
  const auto& p = c.params();
  for (const auto& [field, value] :
       {std::pair<const char*, int64_t>{"num_channels", cfg.num_channels},
        {"image_size", cfg.image_size},
        {"patch_size", cfg.patch_size},
        {"hidden_size", cfg.hidden_size},
        {"num_layers", cfg.num_hidden_layers},
        {"num_heads", cfg.num_attention_heads},
        {"projection_dim", model->config().projection_dim}})
    if (p.contains(field) && p[field].get<int64_t>() != value)
      c.fail(
          concat("params.", field, " = ", p[field].get<int64_t>(), " but the config says ", value));

  const bool want_hidden = c.has_expected("hidden_states");
  const auto out = model->encode_image(c.input("pixel_values"), want_hidden);
  std::map<std::string, at::Tensor> produced = {
      {"last_hidden_state", out.last_hidden_state},
      {"pooler_output", out.pooler_output},
      {"image_embeds", out.image_embeds},
      {"image_embeds_normalized",
       out.image_embeds / out.image_embeds.norm(2, {-1}, /*keepdim=*/true)},
  };
  if (want_hidden) produced["hidden_states"] = at::stack(out.hidden_states, 0);
  c.check_all(produced);
}

}  // namespace

EDITCLIP_PARITY_KIND("clip_vision", check_clip_vision);

}  // namespace editclip::parity
