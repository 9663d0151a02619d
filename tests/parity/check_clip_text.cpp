// Kind "clip_text": HF CLIPModel text tower on given token ids (either padding convention).
#include "engine/core/error.h"
#include "models/clip/clip_model.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

void check_clip_text(ParityCase& c) {
  auto model = ClipModel::load(c.model_dir_or_first("clip").string());
  const auto& cfg = model->config().text;
  const auto& p = c.params();
  if (p.contains("config_eos_token_id") &&
      p["config_eos_token_id"].get<int64_t>() != cfg.eos_token_id)
    c.fail(concat("params.config_eos_token_id = ", p["config_eos_token_id"].get<int64_t>(),
                  " but the config says ", cfg.eos_token_id));

  const auto out = model->encode_text(c.input("input_ids"));
  c.check_all({
      {"last_hidden_state", out.last_hidden_state},
      {"pooler_output", out.pooler_output},
      {"text_embeds", out.text_embeds},
      {"text_embeds_normalized", out.text_embeds / out.text_embeds.norm(2, {-1}, true)},
      {"eos_index", out.eos_index},
  });
}

}  // namespace

EDITCLIP_PARITY_KIND("clip_text", check_clip_text);

}  // namespace editclip::parity
