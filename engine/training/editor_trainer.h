// Training of the EditCLIP exemplar editor (train_ip2p_transfer.py of the authors): the frozen
// EditCLIP vision tower encodes the (input, edited) pair, a fresh ImageProj maps its tokens to the
// UNet's cross-attention states, and the InstructPix2Pix UNet learns to denoise the edited
// image's latents given the input image's latents, with the loss of editor_loss() (epsilon MSE +
// lpips_weight x LPIPS of the decoded x0 estimate against the input image, conditioning dropout).
//
// Random draws (timestep, latent_dist.sample() noise, diffusion noise, dropout draw) come from a
// generator per sample keyed by (seed, step, position in the global batch), so a step is the same
// whatever the number of ranks, and the per-rank mean losses averaged over ranks (equal local
// batches) are the single-process loss: gradients are averaged across ranks.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/training/distributed.h"
#include "engine/training/trainer_common.h"

namespace editclip {

// The run options (data, out, seed, checkpoints, logging, device) are TrainRunOptions'.
struct EditorTrainOptions : TrainRunOptions {
  std::string editclip;  // EditCLIP CLIPModel folder (6 channels), frozen
  std::string init;      // InstructPix2Pix pipeline folder (unet/ 8 ch, vae/, scheduler/) or an
                         // SD 1.x folder (unet/ with 4 input channels, widened to 8)

  int64_t steps = 20000;
  int64_t batch = 64;  // per rank
  double lr = 5e-5;
  double weight_decay = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // diffusers' defaults
  double grad_clip = 1.0;  // max global norm of the UNet's gradients (not the ImageProj's)
  int64_t size = 256;      // training resolution (images resized to size x size)
  double lpips_weight = 0.05;
  std::string lpips;  // LPIPS folder (Lpips::load) or "BACKBONE,LIN" files
  std::string lpips_net = "vgg";
  double cond_dropout = 0.05;
  double ema = 0;  // > 0: EMA decay of the UNet (diffusers' EMAModel warm-up rule); the
                   // ImageProj has none, as in the authors' script
  bool flip = true;
  bool amp = false;  // CUDA: bf16 autocast

  int64_t sample_every = 500;  // 0: no sample grids
  int64_t sample_steps = 20;

  nlohmann::json to_json() const;
};

struct EditorTrainResult {
  int64_t steps_done = 0;
  double first_loss = 0, last_loss = 0;
  std::string last_checkpoint;
  std::vector<std::string> samples;  // sample grid PNGs written
  bool stopped_early = false;
};

EditorTrainResult train_editor(const EditorTrainOptions& options, Communicator& comm);

}  // namespace editclip
