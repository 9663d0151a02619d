#include "models/vae/autoencoder_kl_config.h"

#include "engine/core/error.h"
#include "models/unet/config_json.h"

namespace editclip {

AutoencoderKLConfig AutoencoderKLConfig::from_json(const nlohmann::json& j,
                                                   const std::string& origin) {
  namespace cj = config_json;
  if (!j.is_object()) throw_error(origin, ": not a JSON object");
  AutoencoderKLConfig c;
  c.origin = origin;
  cj::require_one_of(j, origin, "_class_name", {"AutoencoderKL"});
  cj::require_one_of(j, origin, "act_fn", {"silu", "swish"});

  c.in_channels = cj::get_int(j, origin, "in_channels", c.in_channels);
  c.out_channels = cj::get_int(j, origin, "out_channels", c.out_channels);
  c.block_out_channels = cj::get_int_list(j, origin, "block_out_channels", c.block_out_channels);
  const size_t n = c.block_out_channels.size();
  // diffusers defaults the block type lists to a single block; a config that gives more
  // channels than block types is inconsistent there too.
  c.down_block_types = cj::get_string_list(j, origin, "down_block_types", c.down_block_types);
  c.up_block_types = cj::get_string_list(j, origin, "up_block_types", c.up_block_types);
  if (c.down_block_types.size() != n || c.up_block_types.size() != n)
    throw_error(origin, ": down_block_types (", c.down_block_types.size(), "), up_block_types (",
                c.up_block_types.size(), ") and block_out_channels (", n,
                ") must have the same length");
  for (size_t i = 0; i < n; ++i) {
    if (c.down_block_types[i] != "DownEncoderBlock2D")
      throw_error(origin, ": field 'down_block_types' entry ", i, " = \"", c.down_block_types[i],
                  "\" is not supported (only DownEncoderBlock2D is implemented)");
    if (c.up_block_types[i] != "UpDecoderBlock2D")
      throw_error(origin, ": field 'up_block_types' entry ", i, " = \"", c.up_block_types[i],
                  "\" is not supported (only UpDecoderBlock2D is implemented)");
  }
  c.layers_per_block = cj::get_int(j, origin, "layers_per_block", c.layers_per_block);
  c.act_fn = cj::get_string(j, origin, "act_fn", c.act_fn);
  c.latent_channels = cj::get_int(j, origin, "latent_channels", c.latent_channels);
  c.norm_num_groups = cj::get_int(j, origin, "norm_num_groups", c.norm_num_groups);
  if (cj::has(j, "sample_size")) {
    const auto& s = j.at("sample_size");
    c.sample_size = cj::to_int(origin, "sample_size", s.is_array() && !s.empty() ? s.at(0) : s);
  }
  c.scaling_factor = cj::get_double(j, origin, "scaling_factor", c.scaling_factor);
  c.shift_factor = cj::get_opt_double(j, origin, "shift_factor");
  c.force_upcast = cj::get_bool(j, origin, "force_upcast", c.force_upcast);
  c.use_quant_conv = cj::get_bool(j, origin, "use_quant_conv", c.use_quant_conv);
  c.use_post_quant_conv = cj::get_bool(j, origin, "use_post_quant_conv", c.use_post_quant_conv);
  c.mid_block_add_attention =
      cj::get_bool(j, origin, "mid_block_add_attention", c.mid_block_add_attention);
  // latents_mean / latents_std (SDXL-style latent statistics) are pipeline-side only.

  cj::require_positive(origin, "in_channels", c.in_channels);
  cj::require_positive(origin, "out_channels", c.out_channels);
  cj::require_positive(origin, "layers_per_block", c.layers_per_block);
  cj::require_positive(origin, "latent_channels", c.latent_channels);
  cj::require_positive(origin, "norm_num_groups", c.norm_num_groups);
  for (size_t i = 0; i < n; ++i)
    if (c.block_out_channels[i] <= 0 || c.block_out_channels[i] % c.norm_num_groups != 0)
      throw_error(origin, ": block_out_channels[", i, "] = ", c.block_out_channels[i],
                  " must be a positive multiple of norm_num_groups (", c.norm_num_groups, ")");
  if (!(c.scaling_factor > 0))
    throw_error(origin, ": field 'scaling_factor' = ", c.scaling_factor, " must be positive");
  return c;
}

AutoencoderKLConfig AutoencoderKLConfig::from_file(const std::string& path) {
  return from_json(config_json::read_file(path), path);
}

}  // namespace editclip
