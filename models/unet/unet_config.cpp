#include "models/unet/unet_config.h"

#include "engine/core/error.h"
#include "models/unet/config_json.h"

namespace editclip {

namespace {

using config_json::json;

// diffusers accepts some per-block options either as one value or as a per-block list; only the
// uniform case is implemented, which covers every SD 1.x/2.x release.
int64_t uniform_int(const json& j, const std::string& origin, const std::string& key, int64_t def,
                    size_t blocks) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (it->is_array()) {
    if (it->size() != blocks)
      throw_error(origin, ": field '", key, "' = ", it->dump(), " must have one entry per block (",
                  blocks, ")");
    const int64_t first = config_json::to_int(origin, key, it->at(0));
    for (auto& v : *it)
      if (!v.is_number() || config_json::to_int(origin, key, v) != first)
        config_json::unsupported(origin, key, *it, "only one value shared by all blocks");
    return first;
  }
  return config_json::to_int(origin, key, *it);
}

std::string strip_unetres(const std::string& type) {
  return type.rfind("UNetRes", 0) == 0 ? type.substr(7) : type;
}

}  // namespace

int64_t UNet2DConditionConfig::num_heads(size_t down_block) const {
  const auto& heads = num_attention_heads ? *num_attention_heads : attention_head_dim;
  return heads.at(down_block);
}

UNet2DConditionConfig UNet2DConditionConfig::from_json(const json& j, const std::string& origin) {
  namespace cj = config_json;
  if (!j.is_object()) throw_error(origin, ": not a JSON object");
  UNet2DConditionConfig c;
  c.origin = origin;

  cj::require_one_of(j, origin, "_class_name", {"UNet2DConditionModel"});

  // Options of other UNet variants (SDXL, Kandinsky, DeepFloyd, LCM, GLIGEN, ...).
  cj::require_one_of(j, origin, "class_embed_type", {nullptr});
  cj::require_one_of(j, origin, "num_class_embeds", {nullptr});
  cj::require_one_of(j, origin, "class_embeddings_concat", {false});
  cj::require_one_of(j, origin, "addition_embed_type", {nullptr});
  cj::require_one_of(j, origin, "encoder_hid_dim", {nullptr});
  cj::require_one_of(j, origin, "encoder_hid_dim_type", {nullptr});
  cj::require_one_of(j, origin, "dual_cross_attention", {false});
  cj::require_one_of(j, origin, "resnet_time_scale_shift", {"default"});
  cj::require_one_of(j, origin, "time_embedding_type", {"positional"});
  cj::require_one_of(j, origin, "time_embedding_act_fn", {nullptr});
  cj::require_one_of(j, origin, "timestep_post_act", {nullptr});
  cj::require_one_of(j, origin, "time_cond_proj_dim", {nullptr});
  cj::require_one_of(j, origin, "attention_type", {"default"});
  cj::require_one_of(j, origin, "reverse_transformer_layers_per_block", {nullptr});
  cj::require_one_of(j, origin, "mid_block_only_cross_attention", {nullptr, false});
  cj::require_one_of(j, origin, "act_fn", {"silu", "swish"});
  if (auto it = j.find("only_cross_attention"); it != j.end()) {
    bool any = it->is_boolean() ? it->get<bool>() : true;
    if (it->is_array()) {
      any = false;
      for (auto& v : *it) any = any || !v.is_boolean() || v.get<bool>();
    }
    if (any) cj::unsupported(origin, "only_cross_attention", *it, "only false is implemented");
  }
  // resnet_skip_time_act, resnet_out_scale_factor, cross_attention_norm, addition_time_embed_dim,
  // projection_class_embeddings_input_dim and addition_embed_type_num_heads only act on block or
  // embedding types refused above, exactly as in diffusers.

  if (cj::has(j, "sample_size")) {
    const json& s = j.at("sample_size");
    c.sample_size = cj::to_int(origin, "sample_size", s.is_array() && !s.empty() ? s.at(0) : s);
  }
  c.in_channels = cj::get_int(j, origin, "in_channels", c.in_channels);
  c.out_channels = cj::get_int(j, origin, "out_channels", c.out_channels);
  c.center_input_sample = cj::get_bool(j, origin, "center_input_sample", c.center_input_sample);
  c.flip_sin_to_cos = cj::get_bool(j, origin, "flip_sin_to_cos", c.flip_sin_to_cos);
  c.freq_shift = cj::get_double(j, origin, "freq_shift", c.freq_shift);
  c.block_out_channels = cj::get_int_list(j, origin, "block_out_channels", c.block_out_channels);
  const size_t n = c.block_out_channels.size();
  c.down_block_types = cj::get_string_list(j, origin, "down_block_types", c.down_block_types);
  c.up_block_types = cj::get_string_list(j, origin, "up_block_types", c.up_block_types);
  if (j.contains("mid_block_type") && j.at("mid_block_type").is_null())
    c.mid_block_type.clear();
  else
    c.mid_block_type = cj::get_string(j, origin, "mid_block_type", c.mid_block_type);

  if (c.down_block_types.size() != n || c.up_block_types.size() != n)
    throw_error(origin, ": down_block_types (", c.down_block_types.size(), "), up_block_types (",
                c.up_block_types.size(), ") and block_out_channels (", n,
                ") must have the same length");
  for (size_t i = 0; i < n; ++i) {
    c.down_block_types[i] = strip_unetres(c.down_block_types[i]);
    c.up_block_types[i] = strip_unetres(c.up_block_types[i]);
    if (c.down_block_types[i] != "CrossAttnDownBlock2D" && c.down_block_types[i] != "DownBlock2D")
      throw_error(
          origin, ": field 'down_block_types' entry ", i, " = \"", c.down_block_types[i],
          "\" is not supported (only CrossAttnDownBlock2D and DownBlock2D are implemented)");
    if (c.up_block_types[i] != "CrossAttnUpBlock2D" && c.up_block_types[i] != "UpBlock2D")
      throw_error(origin, ": field 'up_block_types' entry ", i, " = \"", c.up_block_types[i],
                  "\" is not supported (only UpBlock2D and CrossAttnUpBlock2D are implemented)");
  }
  if (!c.mid_block_type.empty() && c.mid_block_type != "UNetMidBlock2DCrossAttn")
    cj::unsupported(origin, "mid_block_type", c.mid_block_type,
                    "only \"UNetMidBlock2DCrossAttn\" or null is implemented");

  c.layers_per_block = uniform_int(j, origin, "layers_per_block", c.layers_per_block, n);
  c.cross_attention_dim = uniform_int(j, origin, "cross_attention_dim", c.cross_attention_dim, n);
  c.transformer_layers_per_block =
      uniform_int(j, origin, "transformer_layers_per_block", c.transformer_layers_per_block, n);
  c.downsample_padding = cj::get_int(j, origin, "downsample_padding", c.downsample_padding);
  c.mid_block_scale_factor =
      cj::get_double(j, origin, "mid_block_scale_factor", c.mid_block_scale_factor);
  c.dropout = cj::get_double(j, origin, "dropout", c.dropout);
  c.act_fn = cj::get_string(j, origin, "act_fn", c.act_fn);
  c.norm_num_groups = cj::get_int(j, origin, "norm_num_groups", c.norm_num_groups);
  c.norm_eps = cj::get_double(j, origin, "norm_eps", c.norm_eps);
  c.use_linear_projection =
      cj::get_bool(j, origin, "use_linear_projection", c.use_linear_projection);
  c.upcast_attention = cj::get_bool(j, origin, "upcast_attention", c.upcast_attention);
  c.time_embedding_dim = cj::get_opt_int(j, origin, "time_embedding_dim");
  c.conv_in_kernel = cj::get_int(j, origin, "conv_in_kernel", c.conv_in_kernel);
  c.conv_out_kernel = cj::get_int(j, origin, "conv_out_kernel", c.conv_out_kernel);

  auto per_block = [&](const std::string& key) -> std::optional<std::vector<int64_t>> {
    if (!cj::has(j, key)) return std::nullopt;
    const json& v = j.at(key);
    if (v.is_array()) {
      auto list = cj::get_int_list(j, origin, key, {});
      if (list.size() != n)
        throw_error(origin, ": field '", key, "' = ", v.dump(), " must have one entry per block (",
                    n, ")");
      return list;
    }
    return std::vector<int64_t>(n, cj::to_int(origin, key, v));
  };
  if (j.contains("attention_head_dim")) {
    auto heads = per_block("attention_head_dim");
    if (!heads)
      cj::unsupported(origin, "attention_head_dim", nullptr,
                      "an integer or a per-block list is required");
    c.attention_head_dim = *heads;
  } else {
    c.attention_head_dim.assign(n, 8);
  }
  c.num_attention_heads = per_block("num_attention_heads");

  // Shapes the blocks will need; diffusers would fail (or silently misbehave) later on these.
  cj::require_positive(origin, "in_channels", c.in_channels);
  cj::require_positive(origin, "out_channels", c.out_channels);
  cj::require_positive(origin, "layers_per_block", c.layers_per_block);
  cj::require_positive(origin, "cross_attention_dim", c.cross_attention_dim);
  cj::require_positive(origin, "transformer_layers_per_block", c.transformer_layers_per_block);
  cj::require_positive(origin, "norm_num_groups", c.norm_num_groups);
  cj::require_positive(origin, "time_embed_dim", c.time_embed_dim());
  if (c.conv_in_kernel <= 0 || c.conv_in_kernel % 2 == 0)
    cj::unsupported(origin, "conv_in_kernel", c.conv_in_kernel, "an odd kernel size is required");
  if (c.conv_out_kernel <= 0 || c.conv_out_kernel % 2 == 0)
    cj::unsupported(origin, "conv_out_kernel", c.conv_out_kernel, "an odd kernel size is required");
  if (c.downsample_padding < 0)
    throw_error(origin, ": field 'downsample_padding' = ", c.downsample_padding, " must be >= 0");
  for (size_t i = 0; i < n; ++i) {
    const int64_t ch = c.block_out_channels[i];
    if (ch <= 0 || ch % c.norm_num_groups != 0)
      throw_error(origin, ": block_out_channels[", i, "] = ", ch,
                  " must be a positive multiple of norm_num_groups (", c.norm_num_groups, ")");
    const int64_t h = c.num_heads(i);
    if (h <= 0)
      throw_error(origin, ": the number of attention heads of block ", i, " is ", h,
                  " (field 'num_attention_heads' or legacy 'attention_head_dim')");
  }
  // Every transformer's width must split evenly into its heads.
  auto check_heads = [&](int64_t channels, int64_t heads, const std::string& where) {
    if (channels % heads != 0)
      throw_error(origin, ": ", where, " has ", channels, " channels, not divisible by its ", heads,
                  " attention heads (field 'attention_head_dim' is the number of heads in "
                  "diffusers' legacy naming)");
  };
  for (size_t i = 0; i < n; ++i) {
    if (c.down_block_types[i] == "CrossAttnDownBlock2D")
      check_heads(c.block_out_channels[i], c.num_heads(i), concat("down block ", i));
    if (c.up_block_types[i] == "CrossAttnUpBlock2D")
      check_heads(c.block_out_channels[n - 1 - i], c.num_heads(n - 1 - i), concat("up block ", i));
  }
  if (!c.mid_block_type.empty())
    check_heads(c.block_out_channels.back(), c.num_heads(n - 1), "the mid block");
  return c;
}

UNet2DConditionConfig UNet2DConditionConfig::from_file(const std::string& path) {
  return from_json(config_json::read_file(path), path);
}

}  // namespace editclip
