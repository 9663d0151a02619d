#include "models/vae/autoencoder_kl.h"

#include <filesystem>

#include "engine/core/error.h"
#include "models/unet/attention.h"
#include "models/unet/unet2d_condition.h"

namespace editclip {

namespace {
// diffusers' VAE blocks use GroupNorm/resnet eps 1e-6 regardless of the config.
constexpr double kEps = 1e-6;
std::string item(const std::string& prefix, const char* list, size_t i) {
  return prefix + "." + list + "." + std::to_string(i);
}
}  // namespace

void VaeAttentionBlock::bind(WeightStore& store, const std::string& prefix, int64_t channels,
                             int64_t groups, double eps) {
  group_norm.bind(store, prefix + ".group_norm", groups, channels, eps);
  // Checkpoints converted by diffusers < 0.14 keep the old attention-block names.
  const bool legacy = store.mode() != WeightStore::Mode::Random &&
                      !store.contains(prefix + ".to_q.weight") &&
                      store.contains(prefix + ".query.weight");
  to_q.bind(store, prefix + (legacy ? ".query" : ".to_q"), channels, channels);
  to_k.bind(store, prefix + (legacy ? ".key" : ".to_k"), channels, channels);
  to_v.bind(store, prefix + (legacy ? ".value" : ".to_v"), channels, channels);
  to_out.bind(store, prefix + (legacy ? ".proj_attn" : ".to_out.0"), channels, channels);
}

at::Tensor VaeAttentionBlock::operator()(const at::Tensor& x) const {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor tokens = group_norm(x).view({b, c, h * w}).transpose(1, 2);  // [B,HW,C]
  // One head over the full width; softmax in fp32 as the reference upcasts it.
  at::Tensor out = to_out(multi_head_attention(to_q(tokens), to_k(tokens), to_v(tokens), 1, true));
  // The residual (NCHW, first) sets the output layout; the token view is read in place.
  return x + out.transpose(1, 2).view({b, c, h, w});
}

void VaeMidBlock::bind(WeightStore& store, const std::string& prefix, int64_t channels,
                       int64_t groups, bool add_attention) {
  resnet0.bind(store, item(prefix, "resnets", 0), channels, channels, 0, groups, kEps);
  if (add_attention) {
    attention.emplace();
    attention->bind(store, item(prefix, "attentions", 0), channels, groups, kEps);
  }
  resnet1.bind(store, item(prefix, "resnets", 1), channels, channels, 0, groups, kEps);
}

at::Tensor VaeMidBlock::operator()(const at::Tensor& x) const {
  at::Tensor h = resnet0(x);
  if (attention) h = (*attention)(h);
  return resnet1(h);
}

void VaeEncoder::bind(WeightStore& store, const std::string& prefix, const AutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  const size_t n = ch.size();
  conv_in.bind(store, prefix + ".conv_in", c.in_channels, ch[0], 3, 1, 1);
  down_blocks.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string p = item(prefix, "down_blocks", i);
    auto& block = down_blocks[i];
    block.resnets.resize(c.layers_per_block);
    for (int64_t j = 0; j < c.layers_per_block; ++j)
      block.resnets[j].bind(store, item(p, "resnets", j), j == 0 ? ch[i == 0 ? 0 : i - 1] : ch[i],
                            ch[i], 0, c.norm_num_groups, kEps);
    if (i + 1 < n) {
      block.downsampler.emplace();
      block.downsampler->bind(store, p + ".downsamplers.0", ch[i], 0);
    }
  }
  mid_block.bind(store, prefix + ".mid_block", ch[n - 1], c.norm_num_groups,
                 c.mid_block_add_attention);
  conv_norm_out.bind(store, prefix + ".conv_norm_out", c.norm_num_groups, ch[n - 1], kEps);
  conv_out.bind(store, prefix + ".conv_out", ch[n - 1], 2 * c.latent_channels, 3, 1, 1);
}

at::Tensor VaeEncoder::operator()(const at::Tensor& x) const {
  at::Tensor h = conv_in(x);
  for (auto& block : down_blocks) {
    for (auto& r : block.resnets) h = r(h);
    if (block.downsampler) h = (*block.downsampler)(h);
  }
  h = mid_block(h);
  return conv_out(at::silu(conv_norm_out(h)));
}

void VaeDecoder::bind(WeightStore& store, const std::string& prefix, const AutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  const size_t n = ch.size();
  conv_in.bind(store, prefix + ".conv_in", c.latent_channels, ch[n - 1], 3, 1, 1);
  mid_block.bind(store, prefix + ".mid_block", ch[n - 1], c.norm_num_groups,
                 c.mid_block_add_attention);
  up_blocks.resize(n);
  int64_t out = ch[n - 1];
  for (size_t i = 0; i < n; ++i) {
    const int64_t prev = out;
    out = ch[n - 1 - i];
    const std::string p = item(prefix, "up_blocks", i);
    auto& block = up_blocks[i];
    block.resnets.resize(c.layers_per_block + 1);
    for (int64_t j = 0; j <= c.layers_per_block; ++j)
      block.resnets[j].bind(store, item(p, "resnets", j), j == 0 ? prev : out, out, 0,
                            c.norm_num_groups, kEps);
    if (i + 1 < n) {
      block.upsampler.emplace();
      block.upsampler->bind(store, p + ".upsamplers.0", out);
    }
  }
  conv_norm_out.bind(store, prefix + ".conv_norm_out", c.norm_num_groups, ch[0], kEps);
  conv_out.bind(store, prefix + ".conv_out", ch[0], c.out_channels, 3, 1, 1);
}

at::Tensor VaeDecoder::operator()(const at::Tensor& z) const {
  at::Tensor h = mid_block(conv_in(z));
  for (auto& block : up_blocks) {
    for (auto& r : block.resnets) h = r(h);
    if (block.upsampler) h = (*block.upsampler)(h);
  }
  return conv_out(at::silu(conv_norm_out(h)));
}

AutoencoderKL::AutoencoderKL(const AutoencoderKLConfig& config, WeightStore& store)
    : config_(config) {
  encoder_.bind(store, "encoder", config_);
  decoder_.bind(store, "decoder", config_);
  const int64_t z = config_.latent_channels;
  if (config_.use_quant_conv) quant_conv_.bind(store, "quant_conv", 2 * z, 2 * z, 1);
  if (config_.use_post_quant_conv) post_quant_conv_.bind(store, "post_quant_conv", z, z, 1);
}

std::shared_ptr<AutoencoderKL> AutoencoderKL::load(const std::string& vae_dir,
                                                   WeightOptions options) {
  namespace fs = std::filesystem;
  auto config = AutoencoderKLConfig::from_file((fs::path(vae_dir) / "config.json").string());
  const std::string weights = find_diffusers_weights(vae_dir);
  WeightStore store(vae_dir, WeightStore::Mode::Load, options);
  if (weights.size() > 4 && weights.compare(weights.size() - 4, 4, ".bin") == 0)
    store.add_torch_checkpoint(weights);
  else
    store.add_safetensors(weights);
  auto model = std::make_shared<AutoencoderKL>(config, store);
  store.require_all_used();
  return model;
}

AutoencoderKL::LatentDist AutoencoderKL::encode(const at::Tensor& image) const {
  if (image.dim() != 4 || image.size(1) != config_.in_channels)
    throw_error(config_.origin, ": VAE input must be [B, ", config_.in_channels, ", H, W], got ",
                shape_string(image.sizes()));
  at::Tensor moments = encoder_(image);
  if (config_.use_quant_conv) moments = quant_conv_(moments);
  auto parts = moments.chunk(2, 1);
  LatentDist d;
  d.mean = parts[0];
  d.logvar = parts[1].clamp(-30.0, 20.0);
  d.std = (d.logvar * 0.5).exp();
  return d;
}

at::Tensor AutoencoderKL::decode(const at::Tensor& latents) const {
  if (latents.dim() != 4 || latents.size(1) != config_.latent_channels)
    throw_error(config_.origin, ": VAE latents must be [B, ", config_.latent_channels,
                ", h, w], got ", shape_string(latents.sizes()));
  at::Tensor z = config_.use_post_quant_conv ? post_quant_conv_(latents) : latents;
  return decoder_(z);
}

}  // namespace editclip
