// Hugging Face transformers CLIPConfig (config.json of a CLIPModel folder such as QWW/EditCLIP or
// openai/clip-vit-large-patch14). Field names and defaults are those of transformers 4.49;
// anything this engine does not implement (other activations, other model types) is refused when
// the config is read, with a message naming config.json and the field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace editclip {

// The activations CLIP checkpoints use. GeluTanh covers transformers' "gelu_new" and
// "gelu_pytorch_tanh", which are the same function.
enum class ClipActivation { QuickGelu, Gelu, GeluTanh };

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  // Used by CLIPTextModelWithProjection only; CLIPModel projects to the top-level value.
  int64_t projection_dim = 512;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
  int64_t pad_token_id = 1;
  int64_t bos_token_id = 49406;
  // 2 marks the legacy configs (e.g. the EditCLIP release): the text is then pooled at
  // argmax(input_ids) rather than at the first eos_token_id.
  int64_t eos_token_id = 49407;

  ClipActivation activation() const;
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool legacy_eos_pooling() const { return eos_token_id == 2; }
};

struct ClipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t projection_dim = 512;  // as ClipTextConfig::projection_dim
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;  // 6 for EditCLIP: [input RGB, edited RGB]
  int64_t image_size = 224;
  int64_t patch_size = 32;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;

  ClipActivation activation() const;
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t grid_size() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid_size() * grid_size(); }
  int64_t num_positions() const { return num_patches() + 1; }  // + class token
};

struct ClipConfig {
  ClipTextConfig text;      // "text_config"
  ClipVisionConfig vision;  // "vision_config"
  int64_t projection_dim = 512;
  double logit_scale_init_value = 2.6592;

  std::string origin;  // where it was read from, for messages

  static ClipConfig from_json(const nlohmann::json& j, const std::string& origin);
  static ClipConfig from_file(const std::string& path);
};

}  // namespace editclip
