// diffusers UNet2DConditionModel (Stable Diffusion 1.x/2.x layout, e.g. the 8-channel
// InstructPix2Pix UNet of EditCLIP-IP2P) bound from release weights by name.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/io/weight_store.h"
#include "models/common/layers.h"
#include "models/unet/timestep_embedding.h"
#include "models/unet/unet_blocks.h"
#include "models/unet/unet_config.h"

namespace editclip {

class UNet2DCondition {
 public:
  // Binds every tensor the config implies (diffusers names) from `store`.
  UNet2DCondition(const UNet2DConditionConfig& config, WeightStore& store);

  // `unet_dir`: config.json + diffusion_pytorch_model.safetensors (or .fp16.safetensors, or the
  // torch zip diffusion_pytorch_model.bin). Every checkpoint tensor must be used.
  static std::shared_ptr<UNet2DCondition> load(const std::string& unet_dir,
                                               WeightOptions options = {});

  const UNet2DConditionConfig& config() const { return config_; }

  // sample [B,Cin,h,w]; timestep 0-dim, [1] or [B] (integer or fractional);
  // encoder_hidden_states [B,T,cross_attention_dim] -> [B,Cout,h,w] in the sample's dtype.
  // Any h, w: odd intermediate sizes are upsampled back to the skip connections' sizes.
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timestep,
                     const at::Tensor& encoder_hidden_states) const;

  // Sinusoidal features of the timestep broadcast to `batch`: float32 [batch, block_out[0]].
  at::Tensor time_proj(const at::Tensor& timestep, int64_t batch) const;
  // time_embedding MLP: [B, block_out[0]] -> [B, time_embed_dim] (computed in the input's dtype).
  at::Tensor time_embedding(const at::Tensor& time_proj) const;

 private:
  UNet2DConditionConfig config_;
  nn::Conv2d conv_in_, conv_out_;
  TimestepEmbedding time_embedding_;
  std::vector<UNetDownBlock> down_blocks_;
  std::optional<UNetMidBlockCrossAttn> mid_block_;
  std::vector<UNetUpBlock> up_blocks_;
  nn::GroupNorm conv_norm_out_;
};

// The checkpoint of a diffusers model folder: the first of diffusion_pytorch_model
// {.safetensors, .fp16.safetensors, .bin} that exists; an Error naming the folder otherwise.
std::string find_diffusers_weights(const std::string& dir);

}  // namespace editclip
