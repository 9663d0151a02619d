#include "engine/training/editor_trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <tuple>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/core/torch_compat_autocast.h"
#include "engine/image/editclip_preprocess.h"
#include "engine/image/image_io.h"
#include "engine/pipelines/edit_encoder.h"
#include "engine/pipelines/exemplar_editor.h"
#include "engine/schedulers/ddpm_scheduler.h"
#include "engine/schedulers/scheduler_config.h"
#include "engine/training/adamw.h"
#include "engine/training/checkpoint.h"
#include "engine/training/data_loader.h"
#include "engine/training/dataset.h"
#include "engine/training/losses.h"
#include "engine/training/lr_schedule.h"
#include "engine/training/metrics_log.h"
#include "engine/training/trainable_models.h"
#include "engine/training/trainer_common.h"

namespace fs = std::filesystem;

namespace editclip {

nlohmann::json EditorTrainOptions::to_json() const {
  nlohmann::json j = {{"editclip", editclip},
                      {"init", init},
                      {"steps", steps},
                      {"batch", batch},
                      {"lr", lr},
                      {"weight_decay", weight_decay},
                      {"beta1", beta1},
                      {"beta2", beta2},
                      {"eps", eps},
                      {"grad_clip", grad_clip},
                      {"size", size},
                      {"lpips_weight", lpips_weight},
                      {"lpips", lpips},
                      {"lpips_net", lpips_net},
                      {"cond_dropout", cond_dropout},
                      {"ema", ema},
                      {"flip", flip},
                      {"amp", amp},
                      {"sample_every", sample_every},
                      {"sample_steps", sample_steps}};
  add_to_json(j);
  return j;
}

namespace {

std::string scheduler_class_for_sampling(const std::string& config_path) {
  const nlohmann::json j = read_json_file(config_path);
  const std::string cls = j.value("_class_name", "");
  const auto& ok = SchedulerConfig::supported_classes();
  // An SD folder's PNDM config is read as Euler ancestral (same betas), the IP2P default.
  return std::find(ok.begin(), ok.end(), cls) != ok.end() ? "" : "EulerAncestralDiscreteScheduler";
}

std::shared_ptr<Lpips> load_lpips(const EditorTrainOptions& o, at::Device device) {
  const size_t comma = o.lpips.find(',');
  if (comma != std::string::npos)
    return Lpips::load_files(o.lpips.substr(0, comma), o.lpips.substr(comma + 1), o.lpips_net,
                             {at::kFloat, device});
  return Lpips::load(o.lpips, o.lpips_net, {at::kFloat, device});
}

// diffusers' EMAModel (no warm-up power, update_after_step 0): decay_n = min(decay, n / (n + 9))
// at the n-th update (0 at the first, so the average starts at the weights after one step).
struct Ema {
  double decay = 0;
  int64_t updates = 0;
  TensorMap shadow;  // by the optimizer's parameter names

  void init(const NamedParams& params) {
    at::NoGradGuard no_grad;
    for (const auto& [n, p] : params) shadow[n] = p.detach().clone();
  }
  void update(const NamedParams& params) {
    ++updates;
    const double k = static_cast<double>(updates - 1);
    const double d = updates <= 1 ? 0.0 : std::min(decay, (1 + k) / (10 + k));
    at::NoGradGuard no_grad;
    for (const auto& [n, p] : params) {
      at::Tensor& s = shadow.at(n);
      s.sub_((s - p.detach()).mul_(1 - d));
    }
  }
};

}  // namespace

EditorTrainResult train_editor(const EditorTrainOptions& opt, Communicator& comm) {
  if (opt.batch < 1) throw_error("--batch must be at least 1");
  if (opt.out.empty()) throw_error("--out: the run folder is required");
  if (opt.steps < 1) throw_error("--steps must be at least 1");
  if (opt.lpips_weight > 0 && opt.lpips.empty())
    throw_error("--lpips-weight ", opt.lpips_weight,
                " needs the LPIPS weights: --lpips DIR (vgg_features + lin_vgg_v0.1) or "
                "--lpips BACKBONE,LIN; or pass --lpips-weight 0");
  configure_threads(opt.threads);
  const at::Device device = training_device(opt.device);
  const bool main = comm.is_main();
  const int W = comm.world_size(), rank = comm.rank();
  const fs::path init(opt.init);
  for (const char* sub : {"unet", "vae", "scheduler"})
    if (!fs::is_directory(init / sub))
      throw_error(opt.init, ": no ", sub,
                  "/ folder (expected an InstructPix2Pix or Stable Diffusion pipeline folder with "
                  "unet/, vae/ and scheduler/)");

  // Data; two pairs are held out for the sample grids when the dataset is large enough.
  EditDataset all = load_training_data(opt, comm);
  EditDataset train = all, shown;
  if (all.size() >= 8) std::tie(train, shown) = all.split(2.0 / all.size(), opt.seed);
  if (shown.empty()) shown = all.subset({0});

  // Models: EditCLIP, VAE, LPIPS frozen; UNet and ImageProj trained.
  const WeightOptions wopts{at::kFloat, device};
  auto encoder = EditEncoder::load(opt.editclip, wopts);
  auto vae = AutoencoderKL::load((init / "vae").string(), wopts);
  TrainableUNet unet = load_trainable_unet((init / "unet").string(), device);
  const int64_t clip_dim = encoder->model().config().vision.hidden_size;
  TrainableImageProj proj =
      make_image_proj(clip_dim, unet.config.cross_attention_dim, opt.seed, device);
  const std::string sched_path = (init / "scheduler" / "scheduler_config.json").string();
  DDPMScheduler noise_scheduler(SchedulerConfig::from_file(sched_path, "DDPMScheduler"));
  std::shared_ptr<Lpips> lpips;
  if (opt.lpips_weight > 0) lpips = load_lpips(opt, device);
  const int64_t factor = int64_t{1} << (vae->config().block_out_channels.size() - 1);
  if (opt.size % factor != 0)
    throw_error("--size ", opt.size, " must be a multiple of the VAE's downscale factor ", factor);
  const int64_t latent = opt.size / factor;
  const int64_t T = noise_scheduler.num_train_timesteps();

  NamedParams trained, unet_params;
  for (auto& [n, p] : unet.params) unet_params.emplace_back("unet." + n, p);
  trained = unet_params;
  for (auto& [n, p] : proj.params) trained.emplace_back("image_proj." + n, p);
  for (auto& [n, p] : trained) p.requires_grad_(true);
  TensorMap trained_map(trained.begin(), trained.end());
  // The authors clip unet.parameters() only and keep an EMA of the UNet only.
  std::vector<at::Tensor> clipped;
  for (auto& [n, p] : unet_params) clipped.push_back(p);

  GroupHyper hyper;
  hyper.weight_decay = opt.weight_decay;
  hyper.beta1 = opt.beta1;
  hyper.beta2 = opt.beta2;
  hyper.eps = opt.eps;
  hyper.no_decay = {};  // torch.optim.AdamW(unet.parameters()): one group, everything decayed
  AdamW optimizer(make_param_groups(trained, GroupRule{"all", {}, opt.lr}, {}, hyper));
  LrSchedule schedule;  // constant, as the authors
  schedule.total_steps = opt.steps;

  // The CLIP pixels of each pair (Pillow-exact resampling) are computed on the loader's workers.
  EditDataLoader loader(
      train, training_loader_options(opt, comm, opt.batch, opt.size, opt.flip,
                                     editor_train_pair_pixels(encoder->processor(), opt.size)));

  Ema ema;
  ema.decay = opt.ema;
  if (opt.ema > 0) ema.init(unet_params);

  CheckpointManager checkpoints(opt.out, opt.keep_last);
  nlohmann::json config = opt.to_json();
  config["world_size"] = W;
  std::vector<std::string> resume_keys = {
      "editclip",     "init",         "data",  "batch", "world_size", "seed",  "lr",
      "weight_decay", "beta1",        "beta2", "eps",   "size",       "lpips", "lpips_net",
      "lpips_weight", "cond_dropout", "ema",   "flip",  "grad_clip",  "amp",   "steps"};
  if (opt.ema > 0) {
    // Checkpoints of earlier versions kept an EMA of the ImageProj too.
    config["ema_scope"] = "unet";
    resume_keys.push_back("ema_scope");
  }
  int64_t start = 0;
  if (auto resume = find_resume_point(checkpoints, opt, config, resume_keys, main && !opt.quiet)) {
    Checkpoint& ck = resume->checkpoint;
    copy_params(trained_map, ck.tensors.at("model"), resume->path);
    optimizer.load_state(ck.tensors.at("optimizer"), ck.optimizer);
    if (opt.ema > 0) {
      copy_params(ema.shadow, ck.tensors.at("ema"), resume->path);
      ema.updates = ck.extra.value("ema_updates", int64_t{0});
    }
    loader.seek(ck.data);
    start = ck.step;
  }
  broadcast_parameters(comm, trained);
  if (opt.ema > 0 && start == 0) ema.init(unet_params);

  EditorTrainResult result;
  std::optional<MetricsLog> log;
  if (main) {
    nlohmann::json models = {
        {"editclip", absolute_path(opt.editclip)},
        {"init", absolute_path(opt.init)},
        {"unet_init_channels", unet.init_channels},
        {"unet_config", unet.config_json},
        {"clip_dim", clip_dim},
        {"cross_attention_dim", unet.config.cross_attention_dim},
        {"sampling_scheduler_class", scheduler_class_for_sampling(sched_path)}};
    write_run_info(opt.out, {{"kind", "editor"},
                             {"options", config},
                             {"models", models},
                             {"data",
                              {{"pairs", all.size()},
                               {"train", train.size()},
                               {"shown", shown.size()},
                               {"skipped", all.report().problems.size()}}}});
    log.emplace(run_metrics_path(opt.out), opt.resume ? start : -1);
  }

  // Sample grids: [before | after | query | output] of fixed held-out pairs, with the EMA UNet
  // when EMA is on (as the authors' validation).
  auto sample = [&](int64_t step) {
    if (!main || opt.sample_every <= 0) return;
    TensorMap backup;
    if (opt.ema > 0) {
      at::NoGradGuard no_grad;
      for (auto& [n, p] : unet_params) backup[n] = p.detach().clone();
      copy_params(trained_map, ema.shadow, "EMA", /*require_all=*/false);
    }
    const std::string cls = scheduler_class_for_sampling(sched_path);
    ExemplarEditor editor(unet.model, vae, SchedulerConfig::from_file(sched_path, cls), proj.model,
                          device, at::kFloat);
    const EditTriplet& ex = shown[0];
    const EditTriplet& q = shown[shown.size() > 1 ? 1 : 0];
    auto load = [&](const std::string& p) {
      return authors_resize(load_image_rgb(p).rgb, opt.size, opt.size);
    };
    at::Tensor before = load(ex.input_path), after = load(ex.edited_path),
               query = load(q.input_path);
    EditEncoding enc = encoder->encode(before, after, opt.size);
    EditParams ep;
    ep.steps = opt.sample_steps;
    ep.seed = opt.seed;
    at::Tensor out = editor.edit(enc, query, ep);
    const fs::path dir = fs::path(opt.out) / "samples";
    fs::create_directories(dir);
    char name[64];
    std::snprintf(name, sizeof(name), "step-%07lld.png", static_cast<long long>(step));
    const std::string path = (dir / name).string();
    save_image(path, at::cat({before, after, query, out.to(at::kCPU)}, 1));
    result.samples.push_back(path);
    if (opt.ema > 0) copy_params(trained_map, backup, "backup", /*require_all=*/false);
  };
  auto save = [&](int64_t step) {
    if (main) {
      Checkpoint ck = training_checkpoint(step, loader, optimizer, config);
      ck.tensors["model"] = cpu_copies(trained_map);
      if (opt.ema > 0) ck.tensors["ema"] = cpu_copies(ema.shadow);
      ck.extra = {{"kind", "editor"}, {"ema_updates", ema.updates}};
      result.last_checkpoint = checkpoints.save(ck);
    }
    comm.barrier();
  };

  if (main && !opt.quiet)
    std::cerr << "train-editor: " << train.size() << " training pairs; " << opt.steps
              << " steps of " << opt.batch * W << " pairs at " << opt.size << "x" << opt.size
              << " (" << W << " rank" << (W > 1 ? "s" : "") << ", " << device.str()
              << (unet.widened() ? ", UNet widened from 4 to 8 input channels" : "") << ")\n";
  if (start == 0) sample(0);

  EditorLossWeights weights;
  weights.lpips = lpips ? opt.lpips_weight : 0.0;
  weights.conditioning_dropout = opt.cond_dropout;
  EditorModels models;
  models.editclip = &encoder->model();
  models.image_proj = proj.model.get();
  models.unet = unet.model.get();
  models.vae = vae.get();
  models.lpips = lpips.get();
  models.noise_scheduler = &noise_scheduler;

  ProgressLine progress(main && !opt.quiet, opt.steps, start);
  const int64_t B = opt.batch;
  int64_t step = start, run_steps = 0;
  while (step < opt.steps) {
    const double lr = schedule.apply(optimizer, step);
    EditBatch batch = loader.next();
    EditorBatch eb;
    std::vector<at::Tensor> vae_noise, noise, t, p;
    for (int64_t i = 0; i < B; ++i) {
      at::Generator g = sample_generator(opt.seed, step, rank * B + i);
      t.push_back(at::randint(0, T, {1}, g, at::TensorOptions().dtype(at::kLong)));
      p.push_back(at::rand({1}, g, at::TensorOptions().dtype(at::kFloat)));
      vae_noise.push_back(
          at::randn({1, 4, latent, latent}, g, at::TensorOptions().dtype(at::kFloat)));
      noise.push_back(at::randn({1, 4, latent, latent}, g, at::TensorOptions().dtype(at::kFloat)));
    }
    eb.clip_pixel_values = batch.pair_pixels.to(device);
    eb.original_pixel_values = (batch.input * 2 - 1).to(device);
    eb.edited_pixel_values = (batch.edited * 2 - 1).to(device);
    eb.vae_sample_noise = at::cat(vae_noise, 0).to(device);
    eb.noise = at::cat(noise, 0).to(device);
    eb.timesteps = at::cat(t, 0).to(device);
    eb.random_p = at::cat(p, 0).to(device);
    EditorLoss l;
    {
      compat::AutocastGuard autocast(device.type(), at::kBFloat16, opt.amp);
      l = editor_loss(models, eb, weights);
    }
    l.loss.backward();
    all_reduce_gradients(comm, trained, 1.0 / W);
    if (opt.grad_clip > 0) clip_grad_norm(clipped, opt.grad_clip);
    optimizer.step();
    optimizer.zero_grad();
    if (opt.ema > 0) ema.update(unet_params);
    ++step;
    ++run_steps;
    // Every rank's loss is its local mean; the logged value is the global mean.
    std::vector<at::Tensor> parts{l.loss.detach().to(at::kCPU, at::kDouble).reshape({1}),
                                  l.diffusion_loss.detach().to(at::kCPU, at::kDouble).reshape({1}),
                                  l.lpips_loss.defined()
                                      ? l.lpips_loss.detach().to(at::kCPU, at::kDouble).reshape({1})
                                      : at::zeros({1}, at::kDouble)};
    at::Tensor sums = at::cat(parts);
    std::vector<at::Tensor> v{sums};
    comm.all_reduce_sum(v);
    sums = v[0] / W;
    const double loss_value = sums[0].item<double>();
    check_loss_finite(loss_value, step, "--lr");
    if (step == start + 1) result.first_loss = loss_value;
    result.last_loss = loss_value;
    progress.update(step, B * W, loss_value, lr);
    if (main && (step % std::max<int64_t>(opt.log_every, 1) == 0 || step == opt.steps)) {
      nlohmann::json rec = {{"step", step},
                            {"epoch", loader.position().epoch},
                            {"loss", loss_value},
                            {"diffusion_loss", sums[1].item<double>()},
                            {"lr", lr}};
      if (l.lpips_loss.defined()) rec["lpips_loss"] = sums[2].item<double>();
      log->log(rec);
    }
    const bool stop = opt.stop_after > 0 && run_steps >= opt.stop_after && step < opt.steps;
    if (opt.sample_every > 0 && (step % opt.sample_every == 0 || step == opt.steps)) {
      sample(step);
      comm.barrier();
    }
    if ((opt.save_every > 0 && step % opt.save_every == 0) || step == opt.steps || stop) save(step);
    if (stop) {
      result.stopped_early = true;
      break;
    }
  }
  progress.finish();
  result.steps_done = step;
  if (main && opt.plot && step == opt.steps) {
    PlotOptions po;
    po.title = "train-editor";
    po.panels = {{"loss", {"loss", "diffusion_loss", "lpips_loss"}, true}};
    plot_run_curves(opt.out, po, opt.quiet);
  }
  return result;
}

}  // namespace editclip
