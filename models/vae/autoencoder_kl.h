// diffusers AutoencoderKL (the Stable Diffusion VAE): Encoder -> quant_conv -> diagonal Gaussian
// over latents; post_quant_conv -> Decoder. No scaling factor is applied inside.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/io/weight_store.h"
#include "models/common/layers.h"
#include "models/unet/resnet_block.h"
#include "models/vae/autoencoder_kl_config.h"

namespace editclip {

// Single-head spatial self-attention of the VAE mid block, with its own GroupNorm and a residual.
// Accepts both the current (to_q/to_k/to_v/to_out.0) and the legacy diffusers
// (query/key/value/proj_attn) tensor names.
struct VaeAttentionBlock {
  nn::GroupNorm group_norm;
  nn::Linear to_q, to_k, to_v, to_out;
  void bind(WeightStore& store, const std::string& prefix, int64_t channels, int64_t groups,
            double eps);
  at::Tensor operator()(const at::Tensor& x) const;
};

// resnet -> (attention) -> resnet, no time embedding.
struct VaeMidBlock {
  ResnetBlock2D resnet0, resnet1;
  std::optional<VaeAttentionBlock> attention;
  void bind(WeightStore& store, const std::string& prefix, int64_t channels, int64_t groups,
            bool add_attention);
  at::Tensor operator()(const at::Tensor& x) const;
};

struct VaeEncoder {
  nn::Conv2d conv_in, conv_out;
  struct Block {
    std::vector<ResnetBlock2D> resnets;
    std::optional<Downsample2D> downsampler;
  };
  std::vector<Block> down_blocks;
  VaeMidBlock mid_block;
  nn::GroupNorm conv_norm_out;
  void bind(WeightStore& store, const std::string& prefix, const AutoencoderKLConfig& c);
  at::Tensor operator()(const at::Tensor& x) const;  // [B,in,H,W] -> [B,2*latent,H/f,W/f]
};

struct VaeDecoder {
  nn::Conv2d conv_in, conv_out;
  VaeMidBlock mid_block;
  struct Block {
    std::vector<ResnetBlock2D> resnets;
    std::optional<Upsample2D> upsampler;
  };
  std::vector<Block> up_blocks;
  nn::GroupNorm conv_norm_out;
  void bind(WeightStore& store, const std::string& prefix, const AutoencoderKLConfig& c);
  at::Tensor operator()(const at::Tensor& z) const;  // [B,latent,h,w] -> [B,out,h*f,w*f]
};

class AutoencoderKL {
 public:
  AutoencoderKL(const AutoencoderKLConfig& config, WeightStore& store);

  // `vae_dir`: config.json + diffusion_pytorch_model.safetensors (or .fp16.safetensors / .bin).
  static std::shared_ptr<AutoencoderKL> load(const std::string& vae_dir,
                                             WeightOptions options = {});

  struct LatentDist {
    at::Tensor mean, logvar, std;  // [B,latent,h,w]; logvar clamped to [-30, 20]
  };
  // image [B,in,H,W] in [-1,1]; H and W should be multiples of downscale_factor().
  LatentDist encode(const at::Tensor& image) const;
  // latents [B,latent,h,w] (already divided by the scaling factor) -> [B,out,h*f,w*f].
  at::Tensor decode(const at::Tensor& latents) const;

  const AutoencoderKLConfig& config() const { return config_; }

 private:
  AutoencoderKLConfig config_;
  VaeEncoder encoder_;
  VaeDecoder decoder_;
  nn::Conv2d quant_conv_, post_quant_conv_;
};

}  // namespace editclip
