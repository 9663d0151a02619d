// Training objectives of both halves of EditCLIP, written once and shared by the trainers and the
// parity tests: open_clip's symmetric InfoNCE, and the EditCLIP-IP2P editor step of
// train_ip2p_transfer.py (epsilon MSE + LPIPS on the reconstructed x0, conditioning dropout).
#pragma once

#include <ATen/ATen.h>

#include "engine/pipelines/trace.h"
#include "engine/schedulers/ddpm_scheduler.h"
#include "models/clip/clip_model.h"
#include "models/image_proj/image_proj.h"
#include "models/lpips/lpips.h"
#include "models/unet/unet2d_condition.h"
#include "models/vae/autoencoder_kl.h"

namespace editclip {

// (CE(s I T^T, arange) + CE(s T I^T, arange)) / 2 with L2-normalised features and s = exp(scale).
at::Tensor clip_contrastive_loss(const at::Tensor& image_features, const at::Tensor& text_features,
                                 const at::Tensor& logit_scale_exp);

struct ConditioningMasks {
  at::Tensor prompt_mask;  // [B] bool: edit embedding replaced by zeros
  at::Tensor image_mask;   // [B] float: 0 where the image condition is dropped, else 1
};
// InstructPix2Pix dropout from one uniform draw per sample: r < 2p drops the edit embedding,
// p <= r < 3p drops the image condition (so 5% drop both, 5% each alone for p = 0.05).
ConditioningMasks conditioning_dropout(const at::Tensor& random_p, double p);

struct EditorBatch {
  at::Tensor clip_pixel_values;      // [B,6,S,S] EditCLIP pixels of (original, edited)
  at::Tensor original_pixel_values;  // [B,3,H,W] in [-1,1]
  at::Tensor edited_pixel_values;    // [B,3,H,W] in [-1,1]
  at::Tensor vae_sample_noise;       // [B,4,h,w] draw for latent_dist.sample()
  at::Tensor noise;                  // [B,4,h,w] diffusion noise
  at::Tensor timesteps;              // [B] int64
  at::Tensor random_p;               // [B] uniform draws for conditioning dropout
};

struct EditorLossWeights {
  double diffusion = 1.0;
  double lpips = 0.05;
  double conditioning_dropout = 0.05;
};

struct EditorModels {
  const ClipModel* editclip = nullptr;  // frozen
  const ImageProj* image_proj = nullptr;
  const UNet2DCondition* unet = nullptr;
  const AutoencoderKL* vae = nullptr;  // frozen
  const Lpips* lpips = nullptr;        // optional (nullptr: diffusion loss only)
  const DDPMScheduler* noise_scheduler = nullptr;
};

struct EditorLoss {
  at::Tensor loss, diffusion_loss, lpips_loss;
};

// One forward pass of the editor objective; autograd flows into the UNet and ImageProj when their
// parameters require grad. Intermediates are reported through `trace` under the fixture names.
EditorLoss editor_loss(const EditorModels& models, const EditorBatch& batch,
                       const EditorLossWeights& weights, const TraceFn& trace = {});

}  // namespace editclip
