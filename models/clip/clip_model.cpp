#include "models/clip/clip_model.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/core/error.h"

namespace editclip {

namespace fs = std::filesystem;

ClipModel::ClipModel(const ClipConfig& config, WeightStore& store)
    : config_(config),
      text_(config.text, store, "text_model"),
      vision_(config.vision, store, "vision_model") {
  text_projection_.bind(store, "text_projection", config.text.hidden_size, config.projection_dim,
                        /*has_bias=*/false);
  visual_projection_.bind(store, "visual_projection", config.vision.hidden_size,
                          config.projection_dim, /*has_bias=*/false);
  logit_scale_ = store.get("logit_scale", {}, at::kFloat);
  parameters_ = store.bound();
}

namespace {

// The checkpoint files of an HF model folder, in order of preference.
std::vector<fs::path> weight_files(const fs::path& dir) {
  if (fs::exists(dir / "model.safetensors")) return {dir / "model.safetensors"};
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::ifstream in(index);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw_error(index.string(), ": not valid JSON (", first_line(e.what()), ")");
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw_error(index.string(), ": no 'weight_map' object (not a safetensors shard index)");
    std::set<std::string> shards;
    for (auto& [name, file] : j["weight_map"].items())
      if (file.is_string()) shards.insert(file.get<std::string>());
    std::vector<fs::path> out;
    for (const auto& s : shards) {
      if (!fs::exists(dir / s))
        throw_error(index.string(), ": lists shard '", s, "', which is not in ", dir.string());
      out.push_back(dir / s);
    }
    return out;
  }
  if (fs::exists(dir / "pytorch_model.bin")) return {dir / "pytorch_model.bin"};
  return {};
}

}  // namespace

std::shared_ptr<ClipModel> ClipModel::load(const std::string& dir, WeightOptions opts) {
  const fs::path d(dir);
  if (!fs::is_directory(d))
    throw_error(dir,
                ": not a folder (expected an HF CLIPModel folder with config.json and "
                "model.safetensors)");
  const ClipConfig config = ClipConfig::from_file((d / "config.json").string());
  const auto files = weight_files(d);
  if (files.empty())
    throw_error((d / "model.safetensors").string(),
                ": missing (the CLIPModel folder holds no weights; download model.safetensors "
                "from the model page)");
  WeightStore store(dir, WeightStore::Mode::Load, opts);
  for (const auto& f : files) {
    if (f.extension() == ".safetensors")
      store.add_safetensors(f.string());
    else
      store.add_torch_checkpoint(f.string());
  }
  auto model = std::make_shared<ClipModel>(config, store);
  store.require_all_used();
  return model;
}

ClipVisionOutput ClipModel::encode_image(const at::Tensor& pixel_values, bool hidden_states) const {
  auto v = vision_.forward(pixel_values, hidden_states);
  ClipVisionOutput out;
  out.last_hidden_state = v.last_hidden_state;
  out.pooler_output = v.pooler_output;
  out.image_embeds = visual_projection_(v.pooler_output);
  out.hidden_states = std::move(v.hidden_states);
  return out;
}

ClipTextOutput ClipModel::encode_text(const at::Tensor& input_ids) const {
  auto t = text_.forward(input_ids);
  ClipTextOutput out;
  out.last_hidden_state = t.last_hidden_state;
  out.pooler_output = t.pooler_output;
  out.text_embeds = text_projection_(t.pooler_output);
  out.eos_index = t.eos_index;
  return out;
}

}  // namespace editclip
