#include "models/unet/unet_blocks.h"

#include <string>

#include "engine/core/error.h"

namespace editclip {

namespace {
std::string item(const std::string& prefix, const char* list, size_t i) {
  return prefix + "." + list + "." + std::to_string(i);
}
}  // namespace

void UNetDownBlock::bind(WeightStore& store, const std::string& prefix, const UNetBlockSettings& s,
                         int64_t in, int64_t out, int64_t num_layers, bool cross_attention,
                         int64_t heads, bool add_downsample, int64_t downsample_padding) {
  resnets.resize(num_layers);
  if (cross_attention) attentions.resize(num_layers);
  for (int64_t i = 0; i < num_layers; ++i) {
    resnets[i].bind(store, item(prefix, "resnets", i), i == 0 ? in : out, out, s.temb_channels,
                    s.groups, s.eps);
    if (cross_attention)
      attentions[i].bind(store, item(prefix, "attentions", i), out, heads, s.transformer_layers,
                         s.cross_attention_dim, s.groups, s.use_linear_projection,
                         s.upcast_attention);
  }
  if (add_downsample) {
    downsampler.emplace();
    downsampler->bind(store, prefix + ".downsamplers.0", out, downsample_padding);
  }
}

at::Tensor UNetDownBlock::operator()(at::Tensor x, const at::Tensor& temb_act,
                                     const at::Tensor& context,
                                     std::vector<at::Tensor>& skips) const {
  for (size_t i = 0; i < resnets.size(); ++i) {
    x = resnets[i](x, temb_act);
    if (!attentions.empty()) x = attentions[i](x, context);
    skips.push_back(x);
  }
  if (downsampler) {
    x = (*downsampler)(x);
    skips.push_back(x);
  }
  return x;
}

void UNetMidBlockCrossAttn::bind(WeightStore& store, const std::string& prefix,
                                 const UNetBlockSettings& s, int64_t channels, int64_t heads,
                                 double output_scale_factor) {
  resnets.resize(2);
  attentions.resize(1);
  for (size_t i = 0; i < resnets.size(); ++i)
    resnets[i].bind(store, item(prefix, "resnets", i), channels, channels, s.temb_channels,
                    s.groups, s.eps, output_scale_factor);
  attentions[0].bind(store, item(prefix, "attentions", 0), channels, heads, s.transformer_layers,
                     s.cross_attention_dim, s.groups, s.use_linear_projection, s.upcast_attention);
}

at::Tensor UNetMidBlockCrossAttn::operator()(at::Tensor x, const at::Tensor& temb_act,
                                             const at::Tensor& context) const {
  x = resnets[0](x, temb_act);
  for (size_t i = 0; i < attentions.size(); ++i) {
    x = attentions[i](x, context);
    x = resnets[i + 1](x, temb_act);
  }
  return x;
}

void UNetUpBlock::bind(WeightStore& store, const std::string& prefix, const UNetBlockSettings& s,
                       int64_t in, int64_t out, int64_t prev, int64_t num_layers,
                       bool cross_attention, int64_t heads, bool add_upsample) {
  resnets.resize(num_layers);
  if (cross_attention) attentions.resize(num_layers);
  for (int64_t i = 0; i < num_layers; ++i) {
    // The last resnet takes the skip saved before the matching down block ran (width `in`).
    const int64_t skip = i == num_layers - 1 ? in : out;
    const int64_t own = i == 0 ? prev : out;
    resnets[i].bind(store, item(prefix, "resnets", i), own + skip, out, s.temb_channels, s.groups,
                    s.eps);
    if (cross_attention)
      attentions[i].bind(store, item(prefix, "attentions", i), out, heads, s.transformer_layers,
                         s.cross_attention_dim, s.groups, s.use_linear_projection,
                         s.upcast_attention);
  }
  if (add_upsample) {
    upsampler.emplace();
    upsampler->bind(store, prefix + ".upsamplers.0", out);
  }
}

at::Tensor UNetUpBlock::operator()(at::Tensor x, const at::Tensor& temb_act,
                                   const at::Tensor& context, std::vector<at::Tensor>& skips,
                                   std::optional<std::vector<int64_t>> upsample_size) const {
  for (size_t i = 0; i < resnets.size(); ++i) {
    if (skips.empty()) throw_error("UNet: internal error, skip connections exhausted");
    x = resnets[i](at::cat({x, skips.back()}, 1), temb_act);
    skips.pop_back();
    if (!attentions.empty()) x = attentions[i](x, context);
  }
  if (upsampler) x = (*upsampler)(x, std::move(upsample_size));
  return x;
}

}  // namespace editclip
