#include "engine/pipelines/exemplar_editor.h"

#include <c10/core/InferenceMode.h>

#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/runtime.h"

namespace fs = std::filesystem;

namespace editclip {

std::shared_ptr<ExemplarEditor> ExemplarEditor::load(const std::string& dir,
                                                     int64_t clip_hidden_size,
                                                     WeightOptions options) {
  const fs::path root(dir);
  if (!fs::is_directory(root))
    throw_error(dir,
                ": no such folder (expected the EditCLIP-IP2P pipeline folder with unet/, "
                "vae/, scheduler/ and image_proj_model.pt)");
  for (const char* sub : {"unet", "vae", "scheduler"})
    if (!fs::is_directory(root / sub))
      throw_error(dir, ": missing the ", sub,
                  "/ folder (the editor needs unet/ from QWW/EditCLIP-IP2P and vae/, scheduler/ "
                  "from timbrooks/instruct-pix2pix)");
  // Check the architecture before mapping gigabytes of weights.
  const fs::path unet_config = root / "unet" / "config.json";
  const int64_t in_channels = UNet2DConditionConfig::from_file(unet_config.string()).in_channels;
  if (in_channels != 8)
    throw_error(unet_config.string(), ": this UNet takes ", in_channels,
                " input channels; the exemplar editor needs the 8-channel InstructPix2Pix UNet "
                "(QWW/EditCLIP-IP2P), not a plain Stable Diffusion UNet");
  auto unet = UNet2DCondition::load((root / "unet").string(), options);
  auto vae = AutoencoderKL::load((root / "vae").string(), options);
  auto scheduler =
      SchedulerConfig::from_file((root / "scheduler" / "scheduler_config.json").string());
  fs::path proj = root / "image_proj_model.pt";
  if (!fs::exists(proj)) proj = root / "image_proj_model.safetensors";
  if (!fs::exists(proj))
    throw_error(dir,
                ": missing image_proj_model.pt (the EditCLIP projection from "
                "QWW/EditCLIP-IP2P)");
  auto image_proj = std::make_shared<ImageProj>(
      ImageProj::load(proj.string(), 0, unet->config().cross_attention_dim, options));
  if (clip_hidden_size > 0 && image_proj->clip_embeddings_dim() != clip_hidden_size)
    throw_error(proj.string(), ": the projection takes ", image_proj->clip_embeddings_dim(),
                "-wide EditCLIP features but the EditCLIP model gives ", clip_hidden_size,
                "; the editor and the EditCLIP folder do not belong together");
  return std::make_shared<ExemplarEditor>(unet, vae, scheduler, image_proj, options.device,
                                          compute_dtype_for(options));
}

ExemplarEditor::ExemplarEditor(std::shared_ptr<UNet2DCondition> unet,
                               std::shared_ptr<AutoencoderKL> vae, SchedulerConfig scheduler,
                               std::shared_ptr<ImageProj> image_proj, at::Device device,
                               at::ScalarType compute_dtype)
    : unet_(std::move(unet)),
      vae_(std::move(vae)),
      scheduler_(std::move(scheduler)),
      image_proj_(std::move(image_proj)),
      device_(device),
      compute_dtype_(compute_dtype) {}

int64_t ExemplarEditor::vae_scale_factor() const {
  return int64_t{1} << (vae_->config().block_out_channels.size() - 1);
}

at::Tensor ExemplarEditor::project(const at::Tensor& last_hidden_state) const {
  return (*image_proj_)(last_hidden_state.to(device_, compute_dtype_));
}

at::Tensor ExemplarEditor::edit(const EditEncoding& embedding, const at::Tensor& query_u8,
                                const EditParams& params, const ProgressCallback& progress,
                                const TraceFn& trace_fn) const {
  c10::InferenceMode guard;
  if (query_u8.dim() != 3 || query_u8.size(2) != 3 || query_u8.scalar_type() != at::kByte)
    throw_error("query image: expected [H, W, 3] uint8");
  const int64_t factor = vae_scale_factor();
  const int64_t h = query_u8.size(0), w = query_u8.size(1);
  if (h % factor || w % factor)
    throw_error("query image: ", w, "x", h, " is not a multiple of ", factor,
                " (resize it to the processing size first)");
  if (params.steps < 1) throw_error("--steps ", params.steps, ": must be at least 1");
  const auto opts = at::TensorOptions().device(device_).dtype(compute_dtype_);

  // Conditioning: projected edit tokens, and all-zero tokens for the unconditional branches.
  at::Tensor prompt_embeds = project(embedding.last_hidden_state);
  at::Tensor negative_embeds = at::zeros_like(prompt_embeds);
  trace(trace_fn, "prompt_embeds", prompt_embeds);
  trace(trace_fn, "negative_prompt_embeds", negative_embeds);

  // Image condition: mode of the VAE posterior of the query, unscaled (as InstructPix2Pix).
  at::Tensor query =
      query_u8.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).div(255.0).mul(2.0).sub(1.0);
  trace(trace_fn, "query_tensor", query);
  report(progress, "encode", 0, 1);
  at::Tensor image_latents = vae_->encode(query.to(opts)).mean;
  trace(trace_fn, "image_latents", image_latents);
  report(progress, "encode", 1, 1);

  auto scheduler = make_scheduler(scheduler_);
  scheduler->set_timesteps(params.steps);
  at::Tensor timesteps = scheduler->timesteps();
  trace(trace_fn, "timesteps", timesteps);

  at::Generator generator = make_cpu_generator(params.seed);
  const int64_t latent_channels = vae_->config().latent_channels;
  at::Tensor noise = at::randn({1, latent_channels, h / factor, w / factor}, generator,
                               at::TensorOptions().dtype(at::kFloat));
  trace(trace_fn, "initial_noise", noise);
  at::Tensor latents = noise.to(opts) * scheduler->init_noise_sigma();

  const bool guided = params.guidance > 1.0 && params.image_guidance >= 1.0;
  at::Tensor ehs, image_cond;
  if (guided) {
    ehs = at::cat({prompt_embeds, negative_embeds, negative_embeds});
    image_cond = at::cat({image_latents, image_latents, at::zeros_like(image_latents)});
  } else {
    ehs = prompt_embeds;
    image_cond = image_latents;
  }

  const int64_t n = timesteps.size(0);
  report(progress, "denoise", 0, static_cast<int>(n));
  for (int64_t i = 0; i < n; ++i) {
    const std::string p = "step" + std::to_string(i) + "_";
    trace(trace_fn, p + "latents_in", latents);
    at::Tensor t = timesteps[i];
    at::Tensor model_in = guided ? at::cat({latents, latents, latents}) : latents;
    model_in = scheduler->scale_model_input(model_in, i);
    at::Tensor unet_input = at::cat({model_in, image_cond}, 1);
    trace(trace_fn, p + "unet_input", unet_input);
    at::Tensor out = unet_->forward(unet_input, t.to(device_), ehs);
    trace(trace_fn, p + "unet_output", out);
    at::Tensor eps = out;
    if (guided) {
      auto chunks = out.chunk(3);
      const at::Tensor &e_text = chunks[0], &e_image = chunks[1], &e_uncond = chunks[2];
      eps = e_uncond + params.guidance * (e_text - e_image) +
            params.image_guidance * (e_image - e_uncond);
    }
    trace(trace_fn, p + "guided_noise_pred", eps);
    latents = scheduler->step(eps, i, latents, generator).prev_sample;
    trace(trace_fn, p + "latents_out", latents);
    report(progress, "denoise", static_cast<int>(i + 1), static_cast<int>(n));
  }
  trace(trace_fn, "final_latents", latents);

  report(progress, "decode", 0, 1);
  at::Tensor decoded = vae_->decode(latents / vae_->config().scaling_factor);
  trace(trace_fn, "decoded", decoded);
  at::Tensor image = (decoded.to(at::kFloat) / 2 + 0.5).clamp(0, 1);
  trace(trace_fn, "image", image);
  at::Tensor u8 = image.mul(255).round().to(at::kByte)[0].permute({1, 2, 0}).contiguous().cpu();
  trace(trace_fn, "image_u8", u8);
  report(progress, "decode", 1, 1);
  return u8;
}

}  // namespace editclip
