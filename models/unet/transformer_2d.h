// diffusers Transformer2DModel on continuous (feature-map) inputs as used by the SD UNet:
// GroupNorm, proj_in (1x1 conv, or linear with use_linear_projection), BasicTransformerBlocks
// (self-attention, cross-attention, GEGLU feed-forward, each pre-LayerNorm and residual),
// proj_out, residual around the whole.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "models/common/layers.h"
#include "models/unet/attention.h"

namespace editclip {

struct BasicTransformerBlock {
  nn::LayerNorm norm1, norm2, norm3;
  Attention attn1, attn2;
  nn::Linear ff_proj, ff_out;  // ff.net.0.proj (GEGLU, 2x inner width), ff.net.2

  void bind(WeightStore& store, const std::string& prefix, int64_t dim, int64_t heads,
            int64_t cross_attention_dim, bool upcast_attention);
  // x [B,T,dim], context [B,S,cross_attention_dim].
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& context) const;
};

struct Transformer2D {
  nn::GroupNorm norm;
  bool linear_projection = false;
  nn::Conv2d proj_in_conv, proj_out_conv;
  nn::Linear proj_in_linear, proj_out_linear;
  std::vector<BasicTransformerBlock> transformer_blocks;

  // channels = heads * head_dim (the blocks keep the width of the feature map).
  void bind(WeightStore& store, const std::string& prefix, int64_t channels, int64_t heads,
            int64_t num_layers, int64_t cross_attention_dim, int64_t groups,
            bool use_linear_projection, bool upcast_attention);
  // x [B,C,H,W], context [B,S,cross_attention_dim] -> [B,C,H,W].
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& context) const;
};

}  // namespace editclip
