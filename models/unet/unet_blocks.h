// The UNet's stages (diffusers unet_2d_blocks.py): CrossAttnDownBlock2D / DownBlock2D,
// UNetMidBlock2DCrossAttn and UpBlock2D / CrossAttnUpBlock2D. A block "with attention" pairs a
// Transformer2D with each ResnetBlock2D.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "models/unet/resnet_block.h"
#include "models/unet/transformer_2d.h"

namespace editclip {

// Settings every block of one UNet shares.
struct UNetBlockSettings {
  int64_t temb_channels = 0;
  int64_t groups = 32;
  double eps = 1e-5;
  int64_t cross_attention_dim = 0;
  int64_t transformer_layers = 1;
  bool use_linear_projection = false;
  bool upcast_attention = false;
};

struct UNetDownBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2D> attentions;  // empty for DownBlock2D
  std::optional<Downsample2D> downsampler;

  void bind(WeightStore& store, const std::string& prefix, const UNetBlockSettings& s, int64_t in,
            int64_t out, int64_t num_layers, bool cross_attention, int64_t heads,
            bool add_downsample, int64_t downsample_padding);
  // Appends every intermediate output (one per resnet, plus the downsampled map) to `skips`.
  at::Tensor operator()(at::Tensor x, const at::Tensor& temb_act, const at::Tensor& context,
                        std::vector<at::Tensor>& skips) const;
};

struct UNetMidBlockCrossAttn {
  std::vector<ResnetBlock2D> resnets;  // one more than attentions
  std::vector<Transformer2D> attentions;

  void bind(WeightStore& store, const std::string& prefix, const UNetBlockSettings& s,
            int64_t channels, int64_t heads, double output_scale_factor);
  at::Tensor operator()(at::Tensor x, const at::Tensor& temb_act, const at::Tensor& context) const;
};

struct UNetUpBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2D> attentions;  // empty for UpBlock2D
  std::optional<Upsample2D> upsampler;

  // in: width of the matching down block's input, prev: width of the block below.
  void bind(WeightStore& store, const std::string& prefix, const UNetBlockSettings& s, int64_t in,
            int64_t out, int64_t prev, int64_t num_layers, bool cross_attention, int64_t heads,
            bool add_upsample);
  // Consumes one skip per resnet from the back of `skips` (concatenated on channels).
  at::Tensor operator()(at::Tensor x, const at::Tensor& temb_act, const at::Tensor& context,
                        std::vector<at::Tensor>& skips,
                        std::optional<std::vector<int64_t>> upsample_size) const;
};

}  // namespace editclip
