// `editclip bench`: full-size random-weight models (SD 1.5 InstructPix2Pix UNet, SD VAE, EditCLIP
// ViT-L/14 with 6 channels) from the configs shipped in models/configs, saved in the release
// layouts and loaded back through the normal memory-mapped path, then timed part by part.
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>
#include <torch/version.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/editclip.h"
#include "engine/io/safetensors_reader.h"
#include "engine/pipelines/edit_encoder.h"
#include "engine/pipelines/exemplar_editor.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace editclip::cli {

namespace {

const char* kHelp = R"(usage: editclip bench [options]

Times full-size models with random weights on this machine and prints JSON:
weight load (memory-mapped), edit encoding, one UNet step with the 3-way guidance batch at each
size, VAE encode and decode, and a whole edit; plus peak RSS and the anonymous (non-file) memory
the loaded weights cost.

  --configs DIR     model configs (default: $EDITCLIP_CONFIGS_DIR, the installed
                    share/editclip/configs, or models/configs)
  --work-dir DIR    where the random checkpoints are written once and reused (/tmp/editclip-bench)
  --sizes LIST      UNet step sizes (256,512)
  --steps N         steps of the whole edit (20)
  --edit-size N     size of the whole edit (256)
  --precision P     weight storage fp32 | fp16 | bf16 (fp32)
  --device D        auto | cpu | cuda      --threads N   CPU threads (all)
  --skip LIST       parts to skip: clip,unet,vae,edit,restore
                    (restore: a 4000x3000 RGBA layer brought back from the processing size,
                    guided and plain, as the GIMP plug-in does after every edit)
  --out FILE        also write the JSON to FILE
)";

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Values from /proc/self/status in MiB (VmHWM, VmRSS, RssAnon, RssFile).
double proc_status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream is(line.substr(key.size() + 1));
      double kb = 0;
      is >> kb;
      return kb / 1024.0;
    }
  }
  return -1;
}

fs::path default_configs_dir(const char* argv0) {
  if (const char* env = std::getenv("EDITCLIP_CONFIGS_DIR")) return env;
  std::error_code ec;
  fs::path exe = fs::canonical("/proc/self/exe", ec);
  for (fs::path candidate : {exe.parent_path().parent_path() / "share/editclip/configs",
                             fs::path(EDITCLIP_SOURCE_MODELS_DIR)})
    if (fs::exists(candidate / "sd15_ip2p_unet.json")) return candidate;
  return EDITCLIP_SOURCE_MODELS_DIR;
}

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// Builds a model of `config` with random weights and writes its checkpoint, unless it exists.
template <typename Build>
double ensure_checkpoint(const fs::path& weights, Build build) {
  if (fs::exists(weights)) return 0.0;
  auto t0 = Clock::now();
  WeightStore store("random", WeightStore::Mode::Random);
  build(store);
  write_safetensors(weights.string(), store.bound());
  return seconds_since(t0);
}

json read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw_error(p.string(), ": no such file (pass --configs DIR)");
  return json::parse(in);
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args(argc, argv, 2,
            {"configs", "work-dir", "sizes", "steps", "edit-size", "precision", "device", "threads",
             "skip", "out"},
            {"help"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  configure_threads(args.get_int("threads", 0, 0, 4096));
  // The benchmark takes minutes: an unwritable --out must fail now, not at the end.
  if (args.has("out")) check_output_path("--out", args.get("out"), /*image=*/false);
  const fs::path configs =
      args.has("configs") ? fs::path(args.get("configs")) : default_configs_dir(argv[0]);
  const fs::path work = args.get("work-dir", "/tmp/editclip-bench");
  const std::string skip = args.get("skip", "");
  auto skipped = [&](const char* part) { return skip.find(part) != std::string::npos; };
  std::vector<int> sizes;
  {
    std::stringstream ss(args.get("sizes", "256,512"));
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) sizes.push_back(std::stoi(item));
  }
  WeightOptions wopts;
  wopts.device = resolve_device(parse_device_choice(args.get("device", "auto")));
  wopts.dtype = to_scalar_type(parse_precision(args.get("precision", "fp32")));

  json result;
  result["device"] = wopts.device.str();
  result["threads"] = at::get_num_threads();
  result["precision"] = args.get("precision", "fp32");
  result["torch_version"] = TORCH_VERSION;

  // 1. Random checkpoints in the release layouts (written once, reused).
  const fs::path clip_dir = work / "EditCLIP", editor_dir = work / "EditCLIP-IP2P";
  json clip_config = read_json_file(configs / "editclip_vit_l14.json");
  json unet_config = read_json_file(configs / "sd15_ip2p_unet.json");
  json vae_config = read_json_file(configs / "sd_vae.json");
  json sched_config = read_json_file(configs / "ip2p_scheduler.json");
  write_file(clip_dir / "config.json", clip_config.dump(2));
  write_file(editor_dir / "unet/config.json", unet_config.dump(2));
  write_file(editor_dir / "vae/config.json", vae_config.dump(2));
  write_file(editor_dir / "scheduler/scheduler_config.json", sched_config.dump(2));
  auto clip_cfg = ClipConfig::from_json(clip_config, (configs / "editclip_vit_l14.json").string());
  auto unet_cfg = UNet2DConditionConfig::from_json(unet_config, "sd15_ip2p_unet.json");
  auto vae_cfg = AutoencoderKLConfig::from_json(vae_config, "sd_vae.json");
  double gen = 0;
  std::cerr << "bench: preparing random checkpoints in " << work << " (once)\n";
  gen += ensure_checkpoint(clip_dir / "model.safetensors",
                           [&](WeightStore& s) { ClipModel m(clip_cfg, s); });
  gen += ensure_checkpoint(editor_dir / "unet/diffusion_pytorch_model.safetensors",
                           [&](WeightStore& s) { UNet2DCondition m(unet_cfg, s); });
  gen += ensure_checkpoint(editor_dir / "vae/diffusion_pytorch_model.safetensors",
                           [&](WeightStore& s) { AutoencoderKL m(vae_cfg, s); });
  gen += ensure_checkpoint(editor_dir / "image_proj_model.safetensors", [&](WeightStore& s) {
    ImageProj m(s, clip_cfg.vision.hidden_size, unet_cfg.cross_attention_dim);
  });
  result["checkpoint_generation_s"] = gen;

  // 2. Load through the release-layout loaders (memory-mapped).
  const double anon_before = proc_status_mb("RssAnon");
  auto t0 = Clock::now();
  auto encoder = EditEncoder::load(clip_dir.string(), wopts);
  auto editor = ExemplarEditor::load(editor_dir.string(), clip_cfg.vision.hidden_size, wopts);
  result["load_s"] = seconds_since(t0);
  const double anon_after = proc_status_mb("RssAnon");
  double weights_mb = 0;
  for (auto p :
       {clip_dir / "model.safetensors", editor_dir / "unet/diffusion_pytorch_model.safetensors",
        editor_dir / "vae/diffusion_pytorch_model.safetensors"})
    weights_mb += fs::file_size(p) / (1024.0 * 1024.0);
  result["weights_file_mb"] = weights_mb;
  result["load_anon_rss_increase_mb"] = anon_after - anon_before;
  std::cerr << "bench: loaded in " << result["load_s"].get<double>() << " s\n";

  c10::InferenceMode guard;
  at::Generator g = make_cpu_generator(0);
  auto random_image = [&](int w, int h) {
    return at::randint(0, 256, {h, w, 3}, g, at::TensorOptions().dtype(at::kLong)).to(at::kByte);
  };
  const auto opts = at::TensorOptions().device(wopts.device).dtype(compute_dtype_for(wopts));
  auto sync = [&] {
    if (wopts.device.is_cuda()) at::zeros({1}, opts).cpu();  // waits for queued kernels
  };

  EditEncoding embedding;
  if (!skipped("clip")) {
    auto a = random_image(256, 256), b = random_image(256, 256);
    embedding = encoder->encode(a, b, 256);  // warm-up
    sync();
    t0 = Clock::now();
    embedding = encoder->encode(a, b, 256);
    sync();
    result["edit_encoding_s"] = seconds_since(t0);
    std::cerr << "bench: edit encoding " << result["edit_encoding_s"].get<double>() << " s\n";
  } else {
    embedding = encoder->encode(random_image(64, 64), random_image(64, 64), 256);
  }

  if (!skipped("unet")) {
    at::Tensor ehs = editor->project(embedding.last_hidden_state);
    ehs = at::cat({ehs, at::zeros_like(ehs), at::zeros_like(ehs)});
    for (int size : sizes) {
      const int64_t s = size / 8;
      at::Tensor x = at::randn({3, unet_cfg.in_channels, s, s}, g).to(opts);
      at::Tensor t = at::full({}, 500.0, at::TensorOptions().dtype(at::kFloat)).to(wopts.device);
      // On CUDA the first call at a shape picks kernels (cuDNN autotuning); time the second.
      if (wopts.device.is_cuda()) {
        editor->unet().forward(x, t, ehs);
        sync();
      }
      t0 = Clock::now();
      editor->unet().forward(x, t, ehs);
      sync();
      result["unet_step_3way_" + std::to_string(size) + "_s"] = seconds_since(t0);
      std::cerr << "bench: UNet 3-way step at " << size << ": "
                << result["unet_step_3way_" + std::to_string(size) + "_s"].get<double>() << " s\n";
    }
  }

  if (!skipped("vae")) {
    at::Tensor img = at::rand({1, 3, 256, 256}, g).mul(2).sub(1).to(opts);
    if (wopts.device.is_cuda()) editor->vae().decode(editor->vae().encode(img).mean);
    t0 = Clock::now();
    at::Tensor lat = editor->vae().encode(img).mean;
    sync();
    result["vae_encode_256_s"] = seconds_since(t0);
    t0 = Clock::now();
    editor->vae().decode(lat);
    sync();
    result["vae_decode_256_s"] = seconds_since(t0);
    std::cerr << "bench: VAE encode " << result["vae_encode_256_s"].get<double>() << " s, decode "
              << result["vae_decode_256_s"].get<double>() << " s\n";
  }

  if (!skipped("edit")) {
    const int size = round_size_to_multiple_of_8(
        args.get_int("edit-size", 256, 1, std::numeric_limits<int>::max()));
    EditParams params;
    params.steps = args.get_int("steps", 20, 1, 1000);
    t0 = Clock::now();
    editor->edit(embedding, random_image(size, size), params);
    sync();
    result["edit_" + std::to_string(params.steps) + "_steps_" + std::to_string(size) + "_s"] =
        seconds_since(t0);
    std::cerr << "bench: whole edit " << seconds_since(t0) << " s\n";
  }

  if (!skipped("restore")) {
    const int W = 4000, H = 3000;
    FloatImage layer;
    layer.width = W;
    layer.height = H;
    layer.channels = 4;
    layer.pixels.resize(size_t(W) * H * 4);
    at::Tensor noise = at::rand({int64_t(layer.pixels.size())}, g);
    std::copy(noise.data_ptr<float>(), noise.data_ptr<float>() + noise.numel(),
              layer.pixels.begin());
    const auto [w, h] = processing_size(W, H, 256);
    RgbImage edited;
    edited.width = w;
    edited.height = h;
    edited.pixels.resize(size_t(w) * h * 3);
    at::Tensor bytes = at::randint(0, 256, {int64_t(edited.pixels.size())}, g, at::kByte);
    std::copy(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel(),
              edited.pixels.begin());
    for (UpscaleMode mode : {UpscaleMode::Guided, UpscaleMode::Plain}) {
      t0 = Clock::now();
      restore_full_resolution(layer, edited, mode);
      const std::string key = "restore_" + upscale_mode_name(mode) + "_4000x3000_s";
      result[key] = seconds_since(t0);
      std::cerr << "bench: " << upscale_mode_name(mode) << " restore of 4000x3000 from " << w << "x"
                << h << ": " << result[key].get<double>() << " s\n";
    }
  }

  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  result["peak_rss_mb"] = usage.ru_maxrss / 1024.0;
  result["final_rss_anon_mb"] = proc_status_mb("RssAnon");
  result["final_rss_file_mb"] = proc_status_mb("RssFile");
  const std::string text = result.dump(2);
  std::cout << text << "\n";
  if (args.has("out")) {
    std::ofstream out(args.get("out"));
    out << text << "\n";
    if (!out.flush()) throw_error("--out ", args.get("out"), ": write failed (disk full?)");
  }
  return 0;
}

}  // namespace editclip::cli
