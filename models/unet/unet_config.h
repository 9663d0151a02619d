// diffusers UNet2DConditionModel config (config.json of a `unet/` folder), restricted to the
// Stable Diffusion 1.x/2.x family: CrossAttnDownBlock2D/DownBlock2D, UNetMidBlock2DCrossAttn,
// UpBlock2D/CrossAttnUpBlock2D, positional timestep embedding, no class/addition embeddings.
// Field names and defaults are diffusers'; everything else is refused with an Error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace editclip {

struct UNet2DConditionConfig {
  std::optional<int64_t> sample_size;  // latent size the model was trained at (informational)
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  std::vector<std::string> down_block_types = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                               "CrossAttnDownBlock2D", "DownBlock2D"};
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";  // "" = no mid block (config null)
  std::vector<std::string> up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D",
                                             "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"};
  std::vector<int64_t> block_out_channels = {320, 640, 1280, 1280};
  int64_t layers_per_block = 2;
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1;
  double dropout = 0;  // inference only: no effect
  std::string act_fn = "silu";
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  int64_t cross_attention_dim = 1280;
  int64_t transformer_layers_per_block = 1;
  // Per down block. Legacy diffusers naming: `attention_head_dim` is the NUMBER of heads unless
  // `num_attention_heads` is given (see num_heads()).
  std::vector<int64_t> attention_head_dim = {8, 8, 8, 8};
  std::optional<std::vector<int64_t>> num_attention_heads;
  bool use_linear_projection = false;
  bool upcast_attention = false;
  std::string resnet_time_scale_shift = "default";
  std::string time_embedding_type = "positional";
  std::optional<int64_t> time_embedding_dim;
  int64_t conv_in_kernel = 3;
  int64_t conv_out_kernel = 3;

  std::string origin;  // where it was read from, for messages

  // Heads of the transformers of down block i (up block j uses num_heads(n - 1 - j); the mid
  // block uses the last one).
  int64_t num_heads(size_t down_block) const;
  int64_t time_embed_dim() const { return time_embedding_dim.value_or(4 * block_out_channels[0]); }
  size_t num_blocks() const { return block_out_channels.size(); }

  static UNet2DConditionConfig from_json(const nlohmann::json& j, const std::string& origin);
  static UNet2DConditionConfig from_file(const std::string& path);
};

}  // namespace editclip
