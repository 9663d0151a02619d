// diffusers AutoencoderKL config (config.json of a `vae/` folder): the SD-family KL autoencoder
// with DownEncoderBlock2D / UpDecoderBlock2D stages. Field names and defaults are diffusers'.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace editclip {

struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<std::string> down_block_types = {"DownEncoderBlock2D"};
  std::vector<std::string> up_block_types = {"UpDecoderBlock2D"};
  std::vector<int64_t> block_out_channels = {64};
  int64_t layers_per_block = 1;
  std::string act_fn = "silu";
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  int64_t sample_size = 32;
  // Latents of the diffusion model are encode(x).mean * scaling_factor (pipelines apply it; the
  // model itself never does).
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;
  bool force_upcast = true;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;

  std::string origin;

  // Spatial downscale between images and latents: 2^(blocks - 1).
  int64_t downscale_factor() const { return int64_t{1} << (block_out_channels.size() - 1); }

  static AutoencoderKLConfig from_json(const nlohmann::json& j, const std::string& origin);
  static AutoencoderKLConfig from_file(const std::string& path);
};

}  // namespace editclip
