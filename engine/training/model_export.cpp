#include "engine/training/model_export.h"

#include <filesystem>
#include <utility>

#include "engine/core/error.h"
#include "engine/io/safetensors_reader.h"
#include "engine/io/torch_checkpoint_writer.h"
#include "engine/training/checkpoint.h"
#include "engine/training/trainable_models.h"
#include "engine/training/trainer_common.h"

namespace fs = std::filesystem;

namespace editclip {

namespace {

std::string ck_dir_name(const Checkpoint& ck) {
  return "checkpoint step-" + std::to_string(ck.step);
}

std::vector<std::pair<std::string, at::Tensor>> sorted(const TensorMap& m) {
  return {m.begin(), m.end()};  // std::map: already sorted by name
}

std::string find_checkpoint(const ExportOptions& o) {
  CheckpointManager mgr(o.run_dir, 0);
  auto list = mgr.list();
  if (list.empty())
    throw_error(o.run_dir, ": no complete checkpoint (step-N/ with state.json) to export");
  if (o.step < 0) return list.back().second;
  for (auto& [s, dir] : list)
    if (s == o.step) return dir;
  std::string have;
  for (auto& [s, dir] : list) have += (have.empty() ? "" : ", ") + std::to_string(s);
  throw_error(o.run_dir, ": no checkpoint of step ", o.step, " (available: ", have, ")");
}

void prepare_out(const ExportOptions& o) {
  const fs::path out(o.out_dir);
  if (fs::exists(out) && !fs::is_directory(out))
    throw_error(o.out_dir, ": exists and is not a folder");
  if (fs::exists(out) && !fs::is_empty(out) && !o.force)
    throw_error(o.out_dir, ": the folder is not empty (pass --force to write into it)");
  fs::create_directories(out);
}

void copy_tree(const fs::path& from, const fs::path& to) {
  if (!fs::is_directory(from))
    throw_error(from.string(), ": missing (the init folder of the run changed since training?)");
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

ExportResult export_encoder(const ExportOptions& o, const nlohmann::json& run,
                            const Checkpoint& ck) {
  ExportResult r;
  const auto& models = run.at("models");
  const std::string init = models.at("init").get<std::string>();
  const std::string tok = models.value("tokenizer", init);
  // The frozen text tower comes from the init folder; the checkpoint holds what was trained.
  TrainableClip clip = load_trainable_clip(init, at::kCPU, 6);
  copy_params(clip.params, ck.tensors.at("model"), ck_dir_name(ck), /*require_all=*/false);
  const fs::path out(o.out_dir);
  write_json_file((out / "config.json").string(), models.value("config", clip.config_json));
  write_safetensors((out / "model.safetensors").string(), sorted(cpu_copies(clip.params)),
                    {{"format", "pt"}});
  r.files = {"config.json", "model.safetensors"};
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                        "special_tokens_map.json"}) {
    const fs::path src = fs::path(tok) / f;
    if (fs::exists(src)) {
      fs::copy_file(src, out / f, fs::copy_options::overwrite_existing);
      r.files.push_back(f);
    }
  }
  for (const fs::path& dir : {fs::path(init), fs::path(tok)}) {
    const fs::path src = dir / "preprocessor_config.json";
    if (fs::exists(src)) {
      fs::copy_file(src, out / "preprocessor_config.json", fs::copy_options::overwrite_existing);
      r.files.push_back("preprocessor_config.json");
      break;
    }
  }
  return r;
}

ExportResult export_editor(const ExportOptions& o, const nlohmann::json& run,
                           const Checkpoint& ck) {
  ExportResult r;
  const auto& models = run.at("models");
  const fs::path init(models.at("init").get<std::string>());
  // The EMA covers the UNet only (as the authors' EMAModel(unet.parameters())): its tensors
  // replace the raw ones, the ImageProj is exported as trained.
  TensorMap src = ck.tensors.at("model");
  if (o.use_ema && ck.tensors.count("ema"))
    for (const auto& [name, t] : ck.tensors.at("ema")) src[name] = t;
  TensorMap unet, proj;
  for (const auto& [name, t] : src) {
    if (name.rfind("unet.", 0) == 0)
      unet[name.substr(5)] = t;
    else if (name.rfind("image_proj.", 0) == 0)
      proj[name.substr(11)] = t;
    else
      throw_error(ck_dir_name(ck), ": unexpected tensor '", name, "' in an editor checkpoint");
  }
  if (unet.empty() || proj.size() != 4)
    throw_error(ck_dir_name(ck), ": the checkpoint does not hold a UNet and an ImageProj");
  const fs::path out(o.out_dir);
  fs::create_directories(out / "unet");
  write_json_file((out / "unet" / "config.json").string(), models.at("unet_config"));
  write_safetensors((out / "unet" / "diffusion_pytorch_model.safetensors").string(),
                    sorted(cpu_copies(unet)), {{"format", "pt"}});
  write_safetensors((out / "image_proj_model.safetensors").string(), sorted(cpu_copies(proj)),
                    {{"format", "pt"}});
  write_torch_checkpoint((out / "image_proj_model.pt").string(),
                         {{"proj.weight", proj.at("proj.weight")},
                          {"proj.bias", proj.at("proj.bias")},
                          {"norm.weight", proj.at("norm.weight")},
                          {"norm.bias", proj.at("norm.bias")}});
  copy_tree(init / "vae", out / "vae");
  fs::create_directories(out / "scheduler");
  const std::string sampling_class = models.value("sampling_scheduler_class", "");
  if (sampling_class.empty()) {
    copy_tree(init / "scheduler", out / "scheduler");
  } else {
    // The init's scheduler (e.g. SD's PNDM) is not one the editor samples with: an Euler
    // ancestral config over the same noise schedule, as InstructPix2Pix ships.
    const nlohmann::json s =
        read_json_file((init / "scheduler" / "scheduler_config.json").string());
    nlohmann::json e = {{"_class_name", sampling_class},
                        {"num_train_timesteps", s.value("num_train_timesteps", 1000)},
                        {"beta_start", s.value("beta_start", 0.00085)},
                        {"beta_end", s.value("beta_end", 0.012)},
                        {"beta_schedule", s.value("beta_schedule", "scaled_linear")},
                        {"prediction_type", s.value("prediction_type", "epsilon")},
                        {"steps_offset", s.value("steps_offset", 1)},
                        {"trained_betas", nullptr}};
    write_json_file((out / "scheduler" / "scheduler_config.json").string(), e);
  }
  nlohmann::json index = {
      {"_class_name", "StableDiffusionInstructPix2PixPipeline"},
      {"unet", {"diffusers", "UNet2DConditionModel"}},
      {"vae", {"diffusers", "AutoencoderKL"}},
      {"scheduler",
       {"diffusers", sampling_class.empty()
                         ? read_json_file((out / "scheduler" / "scheduler_config.json").string())
                               .value("_class_name", "")
                         : sampling_class}}};
  write_json_file((out / "model_index.json").string(), index);
  r.files = {"unet/config.json",
             "unet/diffusion_pytorch_model.safetensors",
             "image_proj_model.safetensors",
             "image_proj_model.pt",
             "vae/",
             "scheduler/",
             "model_index.json"};
  return r;
}

}  // namespace

ExportResult export_run(const ExportOptions& o) {
  if (o.run_dir.empty() || o.out_dir.empty()) throw_error("export needs RUN_DIR and --to OUT_DIR");
  const nlohmann::json run = read_run_info(o.run_dir);
  const std::string kind = run.value("kind", "");
  if (kind != "encoder" && kind != "editor")
    throw_error(o.run_dir, "/", kRunFile, ": unknown run kind '", kind, "'");
  const std::string dir = find_checkpoint(o);
  const Checkpoint ck = CheckpointManager::load(dir);
  prepare_out(o);
  ExportResult r = kind == "encoder" ? export_encoder(o, run, ck) : export_editor(o, run, ck);
  r.kind = kind;
  r.step = ck.step;
  r.checkpoint = dir;
  return r;
}

}  // namespace editclip
