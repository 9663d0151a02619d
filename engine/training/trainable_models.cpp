#include "engine/training/trainable_models.h"

#include <ATen/core/grad_mode.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/io/safetensors_reader.h"
#include "engine/io/torch_checkpoint_reader.h"

namespace fs = std::filesystem;

namespace editclip {

namespace {

at::Tensor owned(const at::Tensor& t, at::Device device) {
  at::Tensor out = at::isFloatingType(t.scalar_type())
                       ? t.to(device, at::kFloat, /*non_blocking=*/false, /*copy=*/true)
                       : t.to(device, t.scalar_type(), false, true);
  return out.contiguous();
}

}  // namespace

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_error(path, ": cannot open (missing file?)");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw_error(path, ": not valid JSON (", first_line(e.what()), ")");
  }
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw_error(path, ": cannot write (check the folder exists and is writable)");
    out << j.dump(2) << "\n";
    if (!out) throw_error(path, ": write failed (disk full?)");
  }
  fs::rename(tmp, path);
}

TrainableClip load_trainable_clip(const std::string& dir, at::Device device, int64_t channels) {
  TrainableClip out;
  out.init_dir = fs::absolute(dir).lexically_normal().string();
  // The reference load (all checkpoint layouts, validation); its tensors may be views of the
  // mapping, so the model is rebuilt below from owned copies.
  auto reference = ClipModel::load(dir);
  out.config_json = read_json_file((fs::path(dir) / "config.json").string());
  out.config = reference->config();
  out.init_channels = out.config.vision.num_channels;
  if (out.init_channels != channels && out.init_channels != 3)
    throw_error(dir, "/config.json: vision_config.num_channels is ", out.init_channels,
                "; EditCLIP training starts from a 3-channel CLIP (widened to ", channels,
                ") or a ", channels, "-channel EditCLIP");
  WeightStore store(dir, WeightStore::Mode::Load, {at::kFloat, device});
  for (const auto& [name, t] : reference->named_parameters()) {
    if (name == kClipPatchWeight && out.init_channels != channels) {
      // [D, 3, P, P] -> [D, channels, P, P]: the input image's filters copied, the rest zero,
      // so the widened tower starts as the original CLIP looking at the input image.
      at::Tensor w = at::zeros({t.size(0), channels, t.size(2), t.size(3)},
                               at::TensorOptions().dtype(at::kFloat).device(device));
      w.narrow(1, 0, t.size(1)).copy_(t);
      store.add(name, w, dir);
    } else {
      store.add(name, owned(t, device), dir);
    }
  }
  reference.reset();
  out.config.vision.num_channels = channels;
  if (!out.config_json.contains("vision_config") || !out.config_json["vision_config"].is_object())
    out.config_json["vision_config"] = nlohmann::json::object();
  out.config_json["vision_config"]["num_channels"] = channels;
  out.model = std::make_shared<ClipModel>(out.config, store);
  store.require_all_used();
  out.params = out.model->named_parameters();
  return out;
}

TrainableUNet load_trainable_unet(const std::string& unet_dir, at::Device device) {
  TrainableUNet out;
  out.init_dir = fs::absolute(unet_dir).lexically_normal().string();
  const std::string config_path = (fs::path(unet_dir) / "config.json").string();
  out.config_json = read_json_file(config_path);
  out.config = UNet2DConditionConfig::from_json(out.config_json, config_path);
  out.init_channels = out.config.in_channels;
  if (out.init_channels != 8 && out.init_channels != 4)
    throw_error(config_path, ": in_channels is ", out.init_channels,
                "; the editor starts from an 8-channel InstructPix2Pix UNet or a 4-channel "
                "Stable Diffusion UNet (widened to 8)");
  if (out.config.out_channels != 4)
    throw_error(config_path, ": out_channels is ", out.config.out_channels,
                "; expected 4 (latent noise)");
  const std::string weights = find_diffusers_weights(unet_dir);
  const bool is_bin = fs::path(weights).extension() == ".bin";
  TensorMap raw;
  if (is_bin) {
    raw = read_torch_checkpoint(weights);
  } else {
    SafetensorsReader reader(weights);
    raw = reader.tensors();
  }
  WeightStore store(unet_dir, WeightStore::Mode::Load, {at::kFloat, device});
  for (auto& [name, t] : raw) {
    if (name == "conv_in.weight" && out.init_channels == 4) {
      if (t.dim() != 4 || t.size(1) != 4)
        throw_error(weights, ": tensor 'conv_in.weight' has shape ", shape_string(t.sizes()),
                    ", expected [C, 4, k, k]");
      // InstructPix2Pix: zero weights for the 4 image-condition channels, so the widened UNet
      // initially ignores the condition and predicts exactly as the SD UNet.
      at::Tensor w = at::zeros({t.size(0), 8, t.size(2), t.size(3)},
                               at::TensorOptions().dtype(at::kFloat).device(device));
      w.narrow(1, 0, 4).copy_(t);
      store.add(name, w, weights);
    } else {
      store.add(name, owned(t, device), weights);
    }
  }
  raw.clear();
  out.config.in_channels = 8;
  out.config_json["in_channels"] = 8;
  out.model = std::make_shared<UNet2DCondition>(out.config, store);
  store.require_all_used();
  out.params = store.bound();
  return out;
}

TrainableImageProj make_image_proj(int64_t clip_dim, int64_t cross_dim, uint64_t seed,
                                   at::Device device) {
  at::Generator g = make_cpu_generator(seed);
  const double bound = 1.0 / std::sqrt(static_cast<double>(clip_dim));
  WeightStore store("new ImageProj", WeightStore::Mode::Load, {at::kFloat, device});
  auto cpu = at::TensorOptions().dtype(at::kFloat);
  store.add("proj.weight",
            at::empty({cross_dim, clip_dim}, cpu).uniform_(-bound, bound, g).to(device));
  store.add("proj.bias", at::empty({cross_dim}, cpu).uniform_(-bound, bound, g).to(device));
  store.add("norm.weight", at::ones({cross_dim}, cpu).to(device));
  store.add("norm.bias", at::zeros({cross_dim}, cpu).to(device));
  TrainableImageProj out;
  out.model = std::make_shared<ImageProj>(store, clip_dim, cross_dim);
  store.require_all_used();
  out.params = store.bound();
  return out;
}

void copy_params(TensorMap& params, const TensorMap& values, const std::string& origin,
                 bool require_all) {
  for (const auto& [name, v] : values)
    if (!params.count(name))
      throw_error(origin, ": tensor '", name,
                  "' does not belong to the model being trained (a checkpoint of another run?)");
  at::NoGradGuard no_grad;
  for (auto& [name, p] : params) {
    auto it = values.find(name);
    if (it == values.end()) {
      if (require_all) throw_error(origin, ": tensor '", name, "' is missing");
      continue;
    }
    if (it->second.sizes() != p.sizes())
      throw_error(origin, ": tensor '", name, "' has shape ", shape_string(it->second.sizes()),
                  ", the model has ", shape_string(p.sizes()));
    p.copy_(it->second);
  }
}

TensorMap cpu_copies(const TensorMap& tensors) {
  TensorMap out;
  for (const auto& [name, t] : tensors)
    out[name] = t.detach().to(at::kCPU, t.scalar_type(), false, /*copy=*/true).contiguous();
  return out;
}

}  // namespace editclip
