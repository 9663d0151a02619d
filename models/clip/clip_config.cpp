#include "models/clip/clip_config.h"

#include <fstream>

#include "engine/core/error.h"

namespace editclip {

using nlohmann::json;

namespace {

// Reads fields of one JSON object; `scope` ("vision_config." etc.) prefixes field names in
// messages so that users find the field in config.json.
class Fields {
 public:
  Fields(const json& j, const std::string& origin, std::string scope)
      : j_(j), origin_(origin), scope_(std::move(scope)) {}

  int64_t positive_int(const std::string& key, int64_t def) const {
    const int64_t v = integer(key, def);
    if (v <= 0) throw_error(origin_, ": field '", scope_, key, "' = ", v, " must be positive");
    return v;
  }

  int64_t integer(const std::string& key, int64_t def) const {
    const json* v = find(key);
    if (!v) return def;
    if (v->is_number_integer()) return v->get<int64_t>();
    if (v->is_number_float()) {
      const double d = v->get<double>();
      if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
    }
    bad(key, *v, "an integer");
  }

  double positive_number(const std::string& key, double def) const {
    const json* v = find(key);
    if (!v) return def;
    if (!v->is_number() || v->get<double>() <= 0) bad(key, *v, "a positive number");
    return v->get<double>();
  }

  double number(const std::string& key, double def) const {
    const json* v = find(key);
    if (!v) return def;
    if (!v->is_number()) bad(key, *v, "a number");
    return v->get<double>();
  }

  std::string string(const std::string& key, const std::string& def) const {
    const json* v = find(key);
    if (!v) return def;
    if (!v->is_string()) bad(key, *v, "a string");
    return v->get<std::string>();
  }

  // A model_type other than `expected` means another architecture (and another weight layout).
  void require_model_type(const std::string& expected, const std::string& hint) const {
    const json* v = find("model_type");
    if (v && (!v->is_string() || v->get<std::string>() != expected))
      throw_error(origin_, ": field '", scope_, "model_type' = ", v->dump(), " is not supported (",
                  "expected \"", expected, "\"", hint, ")");
  }

  [[noreturn]] void bad(const std::string& key, const json& v, const char* what) const {
    throw_error(origin_, ": field '", scope_, key, "' = ", v.dump(), " must be ", what);
  }

  const std::string& origin() const { return origin_; }
  const std::string& scope() const { return scope_; }

 private:
  // Absent and null both mean "the default", as in transformers' config classes.
  const json* find(const std::string& key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json& j_;
  std::string origin_;
  std::string scope_;
};

ClipActivation parse_activation(const std::string& origin, const std::string& scope,
                                const std::string& act) {
  if (act == "quick_gelu") return ClipActivation::QuickGelu;
  if (act == "gelu") return ClipActivation::Gelu;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") return ClipActivation::GeluTanh;
  throw_error(origin, ": field '", scope, "hidden_act' = \"", act,
              "\" is not supported (CLIP uses \"quick_gelu\"; \"gelu\", \"gelu_new\" and "
              "\"gelu_pytorch_tanh\" are also implemented)");
}

void check_heads(const Fields& f, int64_t hidden, int64_t heads) {
  if (hidden % heads != 0)
    throw_error(f.origin(), ": field '", f.scope(), "hidden_size' = ", hidden,
                " is not divisible by '", f.scope(), "num_attention_heads' = ", heads);
}

// transformers merges the legacy `<name>_dict` entries over `<name>` (they win when both exist).
json sub_config(const json& j, const std::string& name, const std::string& origin) {
  json out = json::object();
  for (const std::string& key : {name, name + "_dict"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_object())
      throw_error(origin, ": field '", key, "' = ", it->dump(), " must be an object");
    for (auto& [k, v] : it->items()) out[k] = v;
  }
  return out;
}

ClipTextConfig parse_text(const json& j, const std::string& origin) {
  const Fields f(j, origin, "text_config.");
  f.require_model_type("clip_text_model", "");
  ClipTextConfig c;
  c.vocab_size = f.positive_int("vocab_size", c.vocab_size);
  c.hidden_size = f.positive_int("hidden_size", c.hidden_size);
  c.intermediate_size = f.positive_int("intermediate_size", c.intermediate_size);
  c.projection_dim = f.positive_int("projection_dim", c.projection_dim);
  c.num_hidden_layers = f.positive_int("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = f.positive_int("num_attention_heads", c.num_attention_heads);
  c.max_position_embeddings = f.positive_int("max_position_embeddings", c.max_position_embeddings);
  c.hidden_act = f.string("hidden_act", c.hidden_act);
  parse_activation(origin, f.scope(), c.hidden_act);
  c.layer_norm_eps = f.positive_number("layer_norm_eps", c.layer_norm_eps);
  c.pad_token_id = f.integer("pad_token_id", c.pad_token_id);
  c.bos_token_id = f.integer("bos_token_id", c.bos_token_id);
  c.eos_token_id = f.integer("eos_token_id", c.eos_token_id);
  check_heads(f, c.hidden_size, c.num_attention_heads);
  return c;
}

ClipVisionConfig parse_vision(const json& j, const std::string& origin) {
  const Fields f(j, origin, "vision_config.");
  f.require_model_type("clip_vision_model", "");
  ClipVisionConfig c;
  c.hidden_size = f.positive_int("hidden_size", c.hidden_size);
  c.intermediate_size = f.positive_int("intermediate_size", c.intermediate_size);
  c.projection_dim = f.positive_int("projection_dim", c.projection_dim);
  c.num_hidden_layers = f.positive_int("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = f.positive_int("num_attention_heads", c.num_attention_heads);
  c.num_channels = f.positive_int("num_channels", c.num_channels);
  c.image_size = f.positive_int("image_size", c.image_size);
  c.patch_size = f.positive_int("patch_size", c.patch_size);
  c.hidden_act = f.string("hidden_act", c.hidden_act);
  parse_activation(origin, f.scope(), c.hidden_act);
  c.layer_norm_eps = f.positive_number("layer_norm_eps", c.layer_norm_eps);
  check_heads(f, c.hidden_size, c.num_attention_heads);
  if (c.patch_size > c.image_size)
    throw_error(origin, ": field 'vision_config.patch_size' = ", c.patch_size,
                " is larger than 'vision_config.image_size' = ", c.image_size);
  return c;
}

}  // namespace

ClipActivation ClipTextConfig::activation() const {
  return parse_activation("CLIP config", "text_config.", hidden_act);
}

ClipActivation ClipVisionConfig::activation() const {
  return parse_activation("CLIP config", "vision_config.", hidden_act);
}

ClipConfig ClipConfig::from_json(const json& j, const std::string& origin) {
  if (!j.is_object()) throw_error(origin, ": expected a JSON object (an HF CLIPModel config.json)");
  const Fields f(j, origin, "");
  f.require_model_type("clip",
                       "; this engine loads full CLIPModel folders with text_model and "
                       "vision_model weights");
  ClipConfig c;
  c.origin = origin;
  c.text = parse_text(sub_config(j, "text_config", origin), origin);
  c.vision = parse_vision(sub_config(j, "vision_config", origin), origin);
  c.projection_dim = f.positive_int("projection_dim", c.projection_dim);
  c.logit_scale_init_value = f.number("logit_scale_init_value", c.logit_scale_init_value);
  return c;
}

ClipConfig ClipConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw_error(path, ": cannot open the config file (an HF CLIPModel folder holds config.json)");
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    throw_error(path, ": not valid JSON (", first_line(e.what()), ")");
  }
  return from_json(j, path);
}

}  // namespace editclip
