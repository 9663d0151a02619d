#include "models/unet/unet2d_condition.h"

#include <filesystem>

#include "engine/core/error.h"

namespace editclip {

std::string find_diffusers_weights(const std::string& dir) {
  namespace fs = std::filesystem;
  for (const char* name :
       {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
        "diffusion_pytorch_model.bin"}) {
    fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return p.string();
  }
  throw_error(dir,
              ": no diffusion_pytorch_model.safetensors (or .fp16.safetensors) in the folder; "
              "download the model's weights");
}

UNet2DCondition::UNet2DCondition(const UNet2DConditionConfig& config, WeightStore& store)
    : config_(config) {
  const auto& c = config_;
  const auto& ch = c.block_out_channels;
  const size_t n = ch.size();
  const int64_t temb = c.time_embed_dim();

  conv_in_.bind(store, "conv_in", c.in_channels, ch[0], c.conv_in_kernel, 1,
                (c.conv_in_kernel - 1) / 2);
  time_embedding_.bind(store, "time_embedding", ch[0], temb);

  UNetBlockSettings s;
  s.temb_channels = temb;
  s.groups = c.norm_num_groups;
  s.eps = c.norm_eps;
  s.cross_attention_dim = c.cross_attention_dim;
  s.transformer_layers = c.transformer_layers_per_block;
  s.use_linear_projection = c.use_linear_projection;
  s.upcast_attention = c.upcast_attention;

  down_blocks_.resize(n);
  for (size_t i = 0; i < n; ++i)
    down_blocks_[i].bind(store, "down_blocks." + std::to_string(i), s, i == 0 ? ch[0] : ch[i - 1],
                         ch[i], c.layers_per_block, c.down_block_types[i] == "CrossAttnDownBlock2D",
                         c.num_heads(i), i + 1 < n, c.downsample_padding);

  if (!c.mid_block_type.empty()) {
    mid_block_.emplace();
    mid_block_->bind(store, "mid_block", s, ch[n - 1], c.num_heads(n - 1),
                     c.mid_block_scale_factor);
  }

  up_blocks_.resize(n);
  int64_t out = ch[n - 1];
  for (size_t i = 0; i < n; ++i) {
    const int64_t prev = out;
    out = ch[n - 1 - i];
    const int64_t in = ch[i + 1 < n ? n - 2 - i : 0];
    up_blocks_[i].bind(store, "up_blocks." + std::to_string(i), s, in, out, prev,
                       c.layers_per_block + 1, c.up_block_types[i] == "CrossAttnUpBlock2D",
                       c.num_heads(n - 1 - i), i + 1 < n);
  }

  conv_norm_out_.bind(store, "conv_norm_out", c.norm_num_groups, ch[0], c.norm_eps);
  conv_out_.bind(store, "conv_out", ch[0], c.out_channels, c.conv_out_kernel, 1,
                 (c.conv_out_kernel - 1) / 2);
}

std::shared_ptr<UNet2DCondition> UNet2DCondition::load(const std::string& unet_dir,
                                                       WeightOptions options) {
  namespace fs = std::filesystem;
  auto config = UNet2DConditionConfig::from_file((fs::path(unet_dir) / "config.json").string());
  const std::string weights = find_diffusers_weights(unet_dir);
  WeightStore store(unet_dir, WeightStore::Mode::Load, options);
  if (weights.size() > 4 && weights.compare(weights.size() - 4, 4, ".bin") == 0)
    store.add_torch_checkpoint(weights);
  else
    store.add_safetensors(weights);
  auto model = std::make_shared<UNet2DCondition>(config, store);
  store.require_all_used();
  return model;
}

at::Tensor UNet2DCondition::time_proj(const at::Tensor& timestep, int64_t batch) const {
  at::Tensor t = timestep.dim() == 0 ? timestep.reshape({1}) : timestep;
  if (t.dim() != 1 || (t.size(0) != 1 && t.size(0) != batch))
    throw_error(config_.origin, ": UNet timestep must be a scalar or have one value per sample (",
                batch, "), got shape ", shape_string(timestep.sizes()));
  t = t.expand({batch});
  return sinusoidal_timestep_features(t, config_.block_out_channels[0], config_.flip_sin_to_cos,
                                      config_.freq_shift);
}

at::Tensor UNet2DCondition::time_embedding(const at::Tensor& time_proj) const {
  return time_embedding_(time_proj);
}

at::Tensor UNet2DCondition::forward(const at::Tensor& sample_in, const at::Tensor& timestep,
                                    const at::Tensor& encoder_hidden_states) const {
  const auto& c = config_;
  if (sample_in.dim() != 4 || sample_in.size(1) != c.in_channels)
    throw_error(c.origin, ": UNet input must be [B, ", c.in_channels, ", h, w], got ",
                shape_string(sample_in.sizes()));
  const int64_t batch = sample_in.size(0);
  if (encoder_hidden_states.dim() != 3 || encoder_hidden_states.size(0) != batch ||
      encoder_hidden_states.size(2) != c.cross_attention_dim)
    throw_error(c.origin, ": encoder_hidden_states must be [", batch, ", T, ",
                c.cross_attention_dim, "], got ", shape_string(encoder_hidden_states.sizes()));

  at::Tensor sample = c.center_input_sample ? sample_in * 2.0 - 1.0 : sample_in;
  const at::Tensor context = encoder_hidden_states.to(sample.scalar_type());

  // Time features are fp32 and only then cast to the activation dtype (as the reference does).
  at::Tensor temb =
      time_embedding_(time_proj(timestep.to(sample.device()), batch).to(sample.scalar_type()));
  const at::Tensor temb_act = at::silu(temb);

  // The reference forwards explicit upsample sizes only when h or w is not a multiple of
  // 2^(number of upsamplers); otherwise nearest x2 already lands on the skip's size, so using the
  // skip's size every time is the same computation.
  std::vector<at::Tensor> skips;
  skips.reserve(down_blocks_.size() * (c.layers_per_block + 1) + 1);
  at::Tensor x = conv_in_(sample);
  skips.push_back(x);
  for (auto& block : down_blocks_) x = block(x, temb_act, context, skips);
  if (mid_block_) x = (*mid_block_)(x, temb_act, context);

  for (size_t i = 0; i < up_blocks_.size(); ++i) {
    const auto& block = up_blocks_[i];
    std::optional<std::vector<int64_t>> upsample_size;
    if (block.upsampler) {
      const size_t remaining = skips.size() - block.resnets.size();
      if (remaining == 0) throw_error(c.origin, ": UNet internal error: no skip to upsample to");
      const at::Tensor& target = skips[remaining - 1];
      upsample_size = std::vector<int64_t>{target.size(2), target.size(3)};
    }
    x = block(x, temb_act, context, skips, upsample_size);
  }
  x = conv_out_(at::silu(conv_norm_out_(x)));
  return x;
}

}  // namespace editclip
