#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/core/error.h"
#include "engine/io/safetensors_reader.h"
#include "engine/io/torch_checkpoint_reader.h"
#include "engine/io/weight_store.h"
#include "engine/pipelines/edit_encoder.h"
#include "engine/schedulers/scheduler.h"
#include "engine/tokenizer/clip_tokenizer.h"
#include "models/clip/clip_model.h"
#include "models/image_proj/image_proj.h"
#include "models/unet/unet2d_condition.h"
#include "models/vae/autoencoder_kl.h"

namespace fs = std::filesystem;

namespace editclip::cli {

namespace {

const char* kHelp = R"(usage: editclip inspect DIR [--json]

Tells what a model folder holds and whether it is complete. DIR may be an HF CLIPModel folder
(EditCLIP or plain CLIP), an editor pipeline folder (unet/ vae/ scheduler/ image_proj_model.pt), or
a single unet/ or vae/ folder. Every tensor the config implies is checked for name, shape and
dtype; missing and unexpected tensors are listed. Exit status 0 only when everything is complete.
)";

using json = nlohmann::json;

json read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw_error(p.string(), ": no such file");
  try {
    return json::parse(in);
  } catch (const std::exception& e) {
    throw_error(p.string(), ": invalid JSON (", first_line(e.what()), ")");
  }
}

fs::path find_weights(const fs::path& dir, std::initializer_list<const char*> names) {
  for (auto* n : names)
    if (fs::exists(dir / n)) return dir / n;
  return {};
}

struct Component {
  std::string name, path, kind;
  json info = json::object();
  std::vector<std::string> problems;
  std::vector<std::string> warnings;  // shown, but the component still counts as complete
};

// Binds `build` against a Check-mode store over `weights` and records every problem.
template <typename Build>
void check_tensors(Component& c, const fs::path& weights, Build build) {
  WeightStore store(weights.string(), WeightStore::Mode::Check);
  if (weights.extension() == ".safetensors") {
    SafetensorsReader reader(weights.string());
    std::map<std::string, int> dtypes;
    int64_t params = 0;
    for (auto& name : reader.names()) {
      const auto& e = reader.entry(name);
      dtypes[e.dtype]++;
      int64_t n = 1;
      for (auto d : e.shape) n *= d;
      params += n;
    }
    c.info["tensors"] = reader.names().size();
    c.info["parameters"] = params;
    c.info["dtypes"] = dtypes;
    store.add_safetensors(weights.string());
  } else {
    store.add_torch_checkpoint(weights.string());
    c.info["tensors"] = store.names().size();
  }
  build(store);
  for (auto& p : store.problems()) {
    const char* kind = p.kind == WeightStore::Problem::Kind::Missing      ? "missing"
                       : p.kind == WeightStore::Problem::Kind::WrongShape ? "wrong shape"
                       : p.kind == WeightStore::Problem::Kind::WrongDtype ? "wrong dtype"
                                                                          : "unexpected";
    c.problems.push_back(concat(kind, ": ", p.name, " (", p.detail, ")"));
  }
}

void guarded(Component& c, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    c.problems.push_back(first_line(e.what()));
  }
}

Component inspect_clip(const fs::path& dir) {
  Component c{"clip", dir.string(), "CLIPModel"};
  std::optional<ClipConfig> config;
  guarded(c, [&] {
    config = ClipConfig::from_file((dir / "config.json").string());
    c.kind = config->vision.num_channels == 6
                 ? "EditCLIP (CLIPModel, 6-channel vision tower)"
                 : concat("CLIPModel (", config->vision.num_channels, "-channel vision tower)");
    c.info["vision"] = {{"hidden_size", config->vision.hidden_size},
                        {"layers", config->vision.num_hidden_layers},
                        {"image_size", config->vision.image_size},
                        {"patch_size", config->vision.patch_size},
                        {"num_channels", config->vision.num_channels}};
    c.info["text"] = {{"hidden_size", config->text.hidden_size},
                      {"layers", config->text.num_hidden_layers}};
    c.info["projection_dim"] = config->projection_dim;
    fs::path w = find_weights(dir, {"model.safetensors"});
    if (w.empty())
      c.problems.push_back("model.safetensors missing (download it from the model page)");
    else
      check_tensors(c, w, [&](WeightStore& s) { ClipModel m(*config, s); });
  });
  if (!config) return c;
  // Each file is checked on its own, so one problem never hides another.
  const bool tok = (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) ||
                   fs::exists(dir / "tokenizer.json");
  c.info["tokenizer"] = tok;
  if (tok)
    guarded(c, [&] { ClipTokenizer::from_folder(dir.string()); });
  else if (config->vision.num_channels == 6)
    c.warnings.push_back(
        "tokenizer: missing — needed for EC2T/score --instruction; apply works (copy vocab.json "
        "and merges.txt from QWW/EditCLIP)");
  else
    c.warnings.push_back(
        "tokenizer: missing — needed for the CLIP text metrics unless the EditCLIP folder has "
        "one; the image metrics work");
  // The same loader the engine uses: parse, validate, and match the vision tower's image size.
  const bool preprocessor = fs::exists(dir / "preprocessor_config.json");
  c.info["preprocessor_config"] = preprocessor;
  guarded(c, [&] { load_clip_processor(dir.string(), config->vision.image_size); });
  if (!preprocessor)
    c.warnings.push_back(concat("preprocessor_config.json: missing — CLIP's defaults at ",
                                config->vision.image_size, "x", config->vision.image_size,
                                " are used"));
  return c;
}

Component inspect_unet(const fs::path& dir) {
  Component c{"unet", dir.string(), "UNet2DConditionModel"};
  guarded(c, [&] {
    auto config = UNet2DConditionConfig::from_file((dir / "config.json").string());
    c.info["in_channels"] = config.in_channels;
    c.info["cross_attention_dim"] = config.cross_attention_dim;
    c.info["block_out_channels"] = config.block_out_channels;
    if (config.in_channels != 8)
      c.problems.push_back(
          concat("in_channels is ", config.in_channels,
                 ": the exemplar editor needs the 8-channel InstructPix2Pix UNet"));
    fs::path w = find_weights(
        dir, {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"});
    if (w.empty())
      c.problems.push_back("diffusion_pytorch_model.safetensors missing");
    else
      check_tensors(c, w, [&](WeightStore& s) { UNet2DCondition m(config, s); });
  });
  return c;
}

Component inspect_vae(const fs::path& dir) {
  Component c{"vae", dir.string(), "AutoencoderKL"};
  guarded(c, [&] {
    auto config = AutoencoderKLConfig::from_file((dir / "config.json").string());
    c.info["latent_channels"] = config.latent_channels;
    c.info["scaling_factor"] = config.scaling_factor;
    fs::path w = find_weights(
        dir, {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"});
    if (w.empty())
      c.problems.push_back("diffusion_pytorch_model.safetensors missing");
    else
      check_tensors(c, w, [&](WeightStore& s) { AutoencoderKL m(config, s); });
  });
  return c;
}

Component inspect_scheduler(const fs::path& dir) {
  Component c{"scheduler", dir.string(), "scheduler"};
  guarded(c, [&] {
    auto config = SchedulerConfig::from_file((dir / "scheduler_config.json").string());
    c.kind = config.class_name;
    make_scheduler(config);  // refuses unsupported classes and options
  });
  return c;
}

Component inspect_image_proj(const fs::path& root, int64_t cross_dim) {
  fs::path w = find_weights(root, {"image_proj_model.pt", "image_proj_model.safetensors"});
  Component c{"image_proj", w.empty() ? (root / "image_proj_model.pt").string() : w.string(),
              "ImageProjModel"};
  if (w.empty()) {
    c.problems.push_back("image_proj_model.pt missing (from QWW/EditCLIP-IP2P)");
    return c;
  }
  guarded(c, [&] {
    // The projection's input width is the EditCLIP width the checkpoint was trained with; its
    // output width must match the UNet's cross-attention.
    std::map<std::string, at::Tensor> tensors = w.extension() == ".safetensors"
                                                    ? SafetensorsReader(w.string()).tensors()
                                                    : read_torch_checkpoint(w.string());
    int64_t clip_dim = 1024;
    auto it = tensors.find("proj.weight");
    if (it != tensors.end() && it->second.dim() == 2) clip_dim = it->second.size(1);
    c.info["clip_embeddings_dim"] = clip_dim;
    c.info["cross_attention_dim"] = cross_dim;
    check_tensors(c, w, [&](WeightStore& s) { ImageProj m(s, clip_dim, cross_dim); });
  });
  return c;
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
  Args args(argc, argv, 2, {}, {"help", "json"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional().size() != 1) throw_error("expected one folder (see --help)");
  const fs::path dir = args.positional()[0];
  if (!fs::is_directory(dir)) throw_error(dir.string(), ": no such folder");

  std::vector<Component> parts;
  std::string layout;
  if (fs::is_directory(dir / "unet") || fs::exists(dir / "model_index.json")) {
    layout = "editor pipeline";
    int64_t cross_dim = 768;
    parts.push_back(inspect_unet(dir / "unet"));
    if (parts.back().info.contains("cross_attention_dim"))
      cross_dim = parts.back().info["cross_attention_dim"];
    parts.push_back(inspect_vae(dir / "vae"));
    parts.push_back(inspect_scheduler(dir / "scheduler"));
    parts.push_back(inspect_image_proj(dir, cross_dim));
  } else if (fs::exists(dir / "config.json")) {
    json config = read_json(dir / "config.json");
    const std::string cls = config.value("_class_name", "");
    if (cls == "UNet2DConditionModel") {
      layout = "unet";
      parts.push_back(inspect_unet(dir));
    } else if (cls == "AutoencoderKL") {
      layout = "vae";
      parts.push_back(inspect_vae(dir));
    } else if (config.value("model_type", "") == "clip" || config.contains("vision_config")) {
      layout = "clip";
      parts.push_back(inspect_clip(dir));
    } else {
      throw_error((dir / "config.json").string(),
                  ": not a CLIPModel, UNet2DConditionModel or AutoencoderKL config");
    }
  } else if (fs::exists(dir / "scheduler_config.json")) {
    layout = "scheduler";
    parts.push_back(inspect_scheduler(dir));
  } else {
    throw_error(dir.string(),
                ": no config.json, scheduler_config.json or unet/ folder: not a model folder");
  }

  bool complete = true;
  json out = {{"folder", fs::absolute(dir).string()}, {"layout", layout}};
  for (auto& p : parts) {
    complete = complete && p.problems.empty();
    out["components"].push_back({{"name", p.name},
                                 {"path", p.path},
                                 {"kind", p.kind},
                                 {"info", p.info},
                                 {"complete", p.problems.empty()},
                                 {"problems", p.problems},
                                 {"warnings", p.warnings}});
  }
  out["complete"] = complete;
  if (args.has("json")) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << dir.string() << ": " << layout << "\n";
    for (auto& p : parts) {
      std::cout << "  " << (p.problems.empty() ? "[ok]      " : "[PROBLEM] ") << p.name << " - "
                << p.kind << "\n      " << p.path << "\n";
      for (auto& [k, v] : p.info.items()) std::cout << "      " << k << ": " << v.dump() << "\n";
      for (auto& pr : p.problems) std::cout << "      ! " << pr << "\n";
      for (auto& wa : p.warnings) std::cout << "      warning: " << wa << "\n";
    }
    std::cout << (complete ? "complete\n" : "INCOMPLETE: see the problems above\n");
  }
  return complete ? 0 : 1;
}

}  // namespace editclip::cli
