// The EditCLIP-IP2P exemplar editor: an edit embedding conditions an InstructPix2Pix UNet (8 input
// channels: noisy latents + query image latents) through the ImageProj projection, with the
// authors' three-way classifier-free guidance.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "engine/io/weight_store.h"
#include "engine/pipelines/edit_encoder.h"
#include "engine/pipelines/progress.h"
#include "engine/pipelines/trace.h"
#include "engine/schedulers/scheduler.h"
#include "models/image_proj/image_proj.h"
#include "models/unet/unet2d_condition.h"
#include "models/vae/autoencoder_kl.h"

namespace editclip {

struct EditParams {
  int64_t steps = 50;
  uint64_t seed = 0;
  double guidance = 7.0;        // edit guidance s_E
  double image_guidance = 1.5;  // image guidance s_I
};

class ExemplarEditor {
 public:
  // `dir`: a diffusers-style folder with unet/ (8 input channels), vae/, scheduler/ and
  // image_proj_model.pt (or .safetensors). `clip_hidden_size`, when > 0, is the EditCLIP vision
  // width the projection must take (1024 for ViT-L/14); 0 accepts what the checkpoint holds.
  static std::shared_ptr<ExemplarEditor> load(const std::string& dir, int64_t clip_hidden_size,
                                              WeightOptions options = {});
  ExemplarEditor(std::shared_ptr<UNet2DCondition> unet, std::shared_ptr<AutoencoderKL> vae,
                 SchedulerConfig scheduler, std::shared_ptr<ImageProj> image_proj,
                 at::Device device, at::ScalarType compute_dtype);

  // query_u8: [H,W,3] uint8 at the working size (H, W multiples of 8). Returns [H,W,3] uint8.
  at::Tensor edit(const EditEncoding& embedding, const at::Tensor& query_u8,
                  const EditParams& params, const ProgressCallback& progress = {},
                  const TraceFn& trace = {}) const;

  // Pieces, for training and tests.
  at::Tensor project(const at::Tensor& last_hidden_state) const;  // -> encoder_hidden_states
  const UNet2DCondition& unet() const { return *unet_; }
  const AutoencoderKL& vae() const { return *vae_; }
  const ImageProj& image_proj() const { return *image_proj_; }
  const SchedulerConfig& scheduler_config() const { return scheduler_; }
  int64_t vae_scale_factor() const;
  at::Device device() const { return device_; }

 private:
  std::shared_ptr<UNet2DCondition> unet_;
  std::shared_ptr<AutoencoderKL> vae_;
  SchedulerConfig scheduler_;
  std::shared_ptr<ImageProj> image_proj_;
  at::Device device_;
  at::ScalarType compute_dtype_;
};

}  // namespace editclip
