#include "engine/training/losses.h"

#include <ATen/core/grad_mode.h>
#include <c10/core/GradMode.h>

#include "engine/core/error.h"

namespace editclip {

at::Tensor clip_contrastive_loss(const at::Tensor& image_features, const at::Tensor& text_features,
                                 const at::Tensor& logit_scale_exp) {
  at::Tensor logits_per_image = logit_scale_exp * at::matmul(image_features, text_features.t());
  at::Tensor labels = at::arange(image_features.size(0), image_features.options().dtype(at::kLong));
  return (at::cross_entropy_loss(logits_per_image, labels) +
          at::cross_entropy_loss(logits_per_image.t(), labels)) /
         2;
}

ConditioningMasks conditioning_dropout(const at::Tensor& random_p, double p) {
  ConditioningMasks m;
  m.prompt_mask = random_p < 2 * p;
  m.image_mask = 1 - ((random_p >= p) * (random_p < 3 * p)).to(random_p.scalar_type());
  return m;
}

EditorLoss editor_loss(const EditorModels& models, const EditorBatch& batch,
                       const EditorLossWeights& weights, const TraceFn& trace_fn) {
  if (!models.editclip || !models.image_proj || !models.unet || !models.vae ||
      !models.noise_scheduler)
    throw_error("editor_loss: EditCLIP, ImageProj, UNet, VAE and noise scheduler are required");
  const auto& vae = *models.vae;
  const double sf = vae.config().scaling_factor;

  // Frozen parts run without building a graph.
  at::Tensor latents, original_embeds, clip_tokens;
  {
    at::NoGradGuard no_grad;
    auto dist = vae.encode(batch.edited_pixel_values);
    latents = (dist.mean + dist.std * batch.vae_sample_noise) * sf;
    original_embeds = vae.encode(batch.original_pixel_values).mean;
    clip_tokens = models.editclip->encode_image(batch.clip_pixel_values).last_hidden_state;
  }
  trace(trace_fn, "latents", latents);
  trace(trace_fn, "original_image_embeds", original_embeds);
  at::Tensor noisy = models.noise_scheduler->add_noise(latents, batch.noise, batch.timesteps);
  trace(trace_fn, "noisy_latents", noisy);

  at::Tensor ehs = (*models.image_proj)(clip_tokens);
  trace(trace_fn, "encoder_hidden_states_before_dropout", ehs);
  auto masks = conditioning_dropout(batch.random_p, weights.conditioning_dropout);
  trace(trace_fn, "prompt_mask", masks.prompt_mask.to(at::kByte));
  trace(trace_fn, "image_mask", masks.image_mask);
  ehs = at::where(masks.prompt_mask.view({-1, 1, 1}), at::zeros_like(ehs), ehs);
  trace(trace_fn, "encoder_hidden_states", ehs);

  at::Tensor unet_input = at::cat(
      {noisy, masks.image_mask.view({-1, 1, 1, 1}).to(original_embeds.dtype()) * original_embeds},
      1);
  trace(trace_fn, "unet_input", unet_input);
  at::Tensor pred = models.unet->forward(unet_input, batch.timesteps, ehs);
  trace(trace_fn, "model_pred", pred);

  EditorLoss out;
  out.diffusion_loss = at::mse_loss(pred.to(at::kFloat), batch.noise.to(at::kFloat));
  trace(trace_fn, "diffusion_loss", out.diffusion_loss);
  out.loss = weights.diffusion * out.diffusion_loss;
  if (models.lpips && weights.lpips > 0) {
    at::Tensor alpha_bar = models.noise_scheduler->alphas_cumprod()
                               .to(noisy.device())
                               .index_select(0, batch.timesteps.to(noisy.device()));
    trace(trace_fn, "alpha_bar", alpha_bar);
    at::Tensor ab = alpha_bar.view({-1, 1, 1, 1}).to(noisy.dtype());
    at::Tensor clean = (noisy - (1 - ab).sqrt() * pred) / ab.sqrt() / sf;
    trace(trace_fn, "clean_latents_unscaled", clean);
    at::Tensor decoded = vae.decode(clean);
    trace(trace_fn, "decoded_clean_images", decoded);
    at::Tensor per_sample = models.lpips->forward(decoded, batch.original_pixel_values).distance;
    trace(trace_fn, "lpips_per_sample", per_sample);
    out.lpips_loss = per_sample.mean();
    trace(trace_fn, "lpips_loss", out.lpips_loss);
    // The authors fall back to the diffusion loss alone when LPIPS is not finite.
    if (at::isfinite(out.lpips_loss).item<bool>())
      out.loss = out.loss + weights.lpips * out.lpips_loss;
  }
  trace(trace_fn, "loss", out.loss);
  return out;
}

}  // namespace editclip
