// Kind "losses": open_clip's ClipLoss and the EditCLIP-IP2P training step, statement by statement.
#include <ATen/core/grad_mode.h>

#include "engine/core/error.h"
#include "engine/pipelines/exemplar_editor.h"
#include "engine/training/losses.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

void check_losses(ParityCase& c) {
  const auto& p = c.params();
  std::map<std::string, at::Tensor> produced;
  auto collect = [&](const std::string& name, const at::Tensor& t) {
    produced[name] = t.detach().clone().cpu();
  };
  auto clip = ClipModel::load(c.model_dir("editclip").string());

  // (1) contrastive loss on EditCLIP features.
  if (c.has_input("clip_input_ids")) {
    at::NoGradGuard no_grad;
    at::Tensor img = clip->encode_image(c.input("clip_pixel_values")).image_embeds;
    at::Tensor txt = clip->encode_text(c.input("clip_input_ids")).text_embeds;
    img = img / img.norm(2, -1, true);
    txt = txt / txt.norm(2, -1, true);
    at::Tensor scale = clip->logit_scale().exp();
    produced["clip_image_features"] = img;
    produced["clip_text_features"] = txt;
    produced["clip_logit_scale"] = scale;
    produced["clip_logits_per_image"] = scale * at::matmul(img, txt.t());
    produced["clip_loss"] = clip_contrastive_loss(img, txt, scale);
  }

  // (2) the editor training step.
  if (c.has_model("ip2p")) {
    auto editor =
        ExemplarEditor::load(c.model_dir("ip2p").string(), clip->config().vision.hidden_size);
    std::shared_ptr<Lpips> lpips;
    if (c.has_model("lpips")) lpips = Lpips::load(c.model_dir("lpips").string(), "vgg");
    DDPMScheduler ddpm(editor->scheduler_config());
    EditorModels models{clip.get(),     &editor->image_proj(), &editor->unet(),
                        &editor->vae(), lpips.get(),           &ddpm};
    EditorBatch batch{c.input("clip_pixel_values"),
                      c.input("original_pixel_values"),
                      c.input("edited_pixel_values"),
                      c.input("vae_sample_noise"),
                      c.input("noise"),
                      c.input("timesteps"),
                      c.input("random_p")};
    EditorLossWeights weights;
    weights.lpips = p.value("lambda_lpips", 0.05);
    weights.diffusion = p.value("lambda_diffusion", 1.0);
    weights.conditioning_dropout = p.value("conditioning_dropout_prob", 0.05);
    at::NoGradGuard no_grad;
    editor_loss(models, batch, weights, collect);
  }
  c.check_all(produced);
}

}  // namespace

EDITCLIP_PARITY_KIND("losses", check_losses);

}  // namespace editclip::parity
