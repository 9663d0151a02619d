// The convolutional pieces shared by the UNet and the VAE (diffusers resnet.py / downsampling.py /
// upsampling.py): ResnetBlock2D with the "default" time-embedding injection, Downsample2D and
// Upsample2D (both with their convolution).
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "models/common/layers.h"

namespace editclip {

// norm1 -> SiLU -> conv1 (+ time_emb_proj(silu(temb)) per channel) -> norm2 -> SiLU -> conv2,
// added to the input (1x1 conv_shortcut when the width changes), divided by output_scale_factor.
struct ResnetBlock2D {
  nn::GroupNorm norm1, norm2;
  nn::Conv2d conv1, conv2, conv_shortcut;
  nn::Linear time_emb_proj;  // undefined weight when the block takes no time embedding (VAE)
  bool has_shortcut = false;
  double output_scale_factor = 1.0;

  // temb_channels 0: no time embedding.
  void bind(WeightStore& store, const std::string& prefix, int64_t in, int64_t out,
            int64_t temb_channels, int64_t groups, double eps, double output_scale_factor = 1.0);
  // `temb_act` is SiLU(temb) [B, temb_channels], computed once per forward by the caller since
  // every block applies the same activation to the same embedding; undefined for the VAE.
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& temb_act = {}) const;
};

// 3x3 convolution with stride 2. padding 0 means the asymmetric (right/bottom) zero pad of the
// original LDM code, which diffusers keeps for the VAE encoder.
struct Downsample2D {
  nn::Conv2d conv;
  int64_t padding = 1;
  void bind(WeightStore& store, const std::string& prefix, int64_t channels, int64_t padding);
  at::Tensor operator()(const at::Tensor& x) const;
};

// Nearest-neighbour x2 (or to `size`, which lets the UNet reproduce a skip connection's odd
// size), then a 3x3 convolution.
struct Upsample2D {
  nn::Conv2d conv;
  void bind(WeightStore& store, const std::string& prefix, int64_t channels);
  at::Tensor operator()(const at::Tensor& x,
                        std::optional<std::vector<int64_t>> size = std::nullopt) const;
};

}  // namespace editclip
