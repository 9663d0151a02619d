#include "engine/training/trainer_common.h"

#include <unistd.h>

#include <cmath>
#include <exception>
#include <filesystem>
#include <iostream>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/image/editclip_preprocess.h"
#include "engine/training/det_rng.h"
#include "engine/training/trainable_models.h"

namespace fs = std::filesystem;

namespace editclip {

void TrainRunOptions::add_to_json(nlohmann::json& j) const {
  j["data"] = data;
  j["data_format"] = data_format;
  j["skip_bad"] = skip_bad;
  j["seed"] = seed;
  j["save_every"] = save_every;
  j["keep_last"] = keep_last;
}

at::Device training_device(const std::string& choice) {
  const at::Device d = resolve_device(parse_device_choice(choice));
  if (d.is_cuda())
    return at::Device(at::kCUDA,
                      static_cast<c10::DeviceIndex>(DistributedEnv::from_environment().local_rank));
  return d;
}

at::Tensor to_u8_hwc(const at::Tensor& chw01) {
  return chw01.mul(255).round_().clamp_(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
}

EditDataset load_training_data(const TrainRunOptions& opt, Communicator& comm) {
  DatasetOptions dopts;
  dopts.format = parse_dataset_format(opt.data_format);
  dopts.skip_bad = opt.skip_bad;
  dopts.shard_rank = comm.rank();
  dopts.shard_count = comm.world_size();
  // Every rank must make the same collective calls in the same order, also when one of them
  // fails (a missing manifest entry, a thread that cannot start, out of memory): otherwise the
  // others wait in a collective until the timeout. So each rank first says, in the same all-reduce
  // at the point where it either combines or has failed, whether it failed; a rank that learns
  // that another one failed stops without a further collective.
  struct OtherRankFailed {};
  dopts.combine = [&comm](std::vector<uint8_t>& bad) {
    if (comm.world_size() == 1) return;
    if (comm.all_reduce_max(0.0) > 0) throw OtherRankFailed{};
    at::Tensor t = at::empty({static_cast<int64_t>(bad.size())}, at::kInt);
    int32_t* q = t.data_ptr<int32_t>();
    for (size_t i = 0; i < bad.size(); ++i) q[i] = bad[i] ? 1 : 0;
    std::vector<at::Tensor> v{t};
    comm.all_reduce_sum(v);
    const at::Tensor sum = v[0].to(at::kCPU).contiguous();
    const int32_t* p = sum.data_ptr<int32_t>();
    for (size_t i = 0; i < bad.size(); ++i) bad[i] = p[i] > 0 ? 1 : 0;
  };
  const std::string other_failed = concat(
      "dataset ", opt.data, ": the data validation failed on another rank (see its message)");
  std::optional<EditDataset> all;
  std::exception_ptr failure;
  try {
    all = EditDataset::load(opt.data, dopts);
  } catch (const OtherRankFailed&) {
    throw_error(other_failed);
  } catch (...) {
    failure = std::current_exception();
  }
  // Matches the failed rank's all-reduce whether the others are past the combine or still in it.
  if (comm.world_size() > 1 && comm.all_reduce_max(failure ? 1.0 : 0.0) > 0 && !failure)
    throw_error(other_failed);
  if (failure) std::rethrow_exception(failure);
  const auto& problems = all->report().problems;
  if (!opt.quiet && !problems.empty()) {
    if (comm.is_main())
      std::cerr << "skipped " << problems.size() << " bad entr"
                << (problems.size() == 1 ? "y" : "ies") << " of " << all->origin() << ":\n";
    size_t listed = 0;
    for (const DatasetProblem& p : problems) {
      if (!p.local) continue;
      if (listed++ == 20) break;
      std::cerr << "  " << (comm.world_size() > 1 ? concat("[rank ", comm.rank(), "] ") : "")
                << p.where << ": " << p.what << "\n";
    }
  }
  return std::move(*all);
}

LoaderOptions training_loader_options(const TrainRunOptions& opt, const Communicator& comm,
                                      int64_t batch, int64_t resize, bool flip,
                                      PairPixelsFn pixels) {
  LoaderOptions lo;
  lo.global_batch = batch * comm.world_size();
  lo.rank = comm.rank();
  lo.world_size = comm.world_size();
  lo.seed = opt.seed;
  lo.transform.resize = resize;
  lo.transform.random_flip = flip;
  lo.pair_pixels = std::move(pixels);
  lo.threads = opt.workers;
  return lo;
}

PairPixelsFn open_clip_train_pair_pixels(const ClipImageProcessor& processor) {
  const auto& c = processor.config();
  // torchvision Normalize: float32 mean/std tensors, sub_ then div_ (float32 arithmetic).
  const at::Tensor mean =
      at::tensor(std::vector<float>(c.image_mean.begin(), c.image_mean.end())).view({3, 1, 1});
  const at::Tensor stdev =
      at::tensor(std::vector<float>(c.image_std.begin(), c.image_std.end())).view({3, 1, 1});
  return [mean, stdev](const at::Tensor& a, const at::Tensor& b) {
    auto one = [&](const at::Tensor& u8) { return to_unit_float(u8).sub(mean).div(stdev); };
    return at::cat({one(a), one(b)}, 0);
  };
}

PairPixelsFn inference_pair_pixels(const ClipImageProcessor& processor, int64_t resize) {
  return [processor, resize](const at::Tensor& a, const at::Tensor& b) {
    return editclip_pair_pixels(processor, a, b, resize, resize).squeeze(0);
  };
}

PairPixelsFn editor_train_pair_pixels(const ClipImageProcessor& processor, int64_t size) {
  return [processor, size](const at::Tensor& a, const at::Tensor& b) {
    return editclip_pair_pixels_train(processor, a, b, size, size).squeeze(0);
  };
}

std::optional<ResumePoint> find_resume_point(const CheckpointManager& checkpoints,
                                             const TrainRunOptions& opt,
                                             const nlohmann::json& config,
                                             const std::vector<std::string>& keys, bool verbose) {
  if (!opt.resume) {
    if (!checkpoints.list().empty())
      throw_error(opt.out,
                  ": already holds checkpoints; pass --resume to continue that run, or "
                  "choose another --out");
    return std::nullopt;
  }
  auto latest = checkpoints.latest();
  if (!latest)
    throw_error(opt.out, ": --resume, but the folder holds no complete checkpoint (step-N/)");
  ResumePoint r{*latest, CheckpointManager::load(*latest)};
  check_resume_compatible(r.checkpoint.config, config, keys, r.path);
  if (verbose) std::cerr << "resuming from " << r.path << " (step " << r.checkpoint.step << ")\n";
  return r;
}

Checkpoint training_checkpoint(int64_t step, const EditDataLoader& loader, const AdamW& optimizer,
                               const nlohmann::json& config) {
  Checkpoint ck;
  ck.step = step;
  ck.epoch = loader.position().epoch;
  ck.data = loader.position();
  ck.optimizer = optimizer.state_json();
  ck.config = config;
  // No generator state is saved: nothing in training draws from a carried generator (the data
  // order, augmentations and the editor's draws are keyed by (seed, step/epoch, sample)), so a
  // resumed run needs none to continue bit for bit.
  ck.tensors["optimizer"] = optimizer.state_tensors();
  return ck;
}

void check_loss_finite(double loss, int64_t step, const std::string& lower) {
  if (!std::isfinite(loss))
    throw_error("the loss became ", loss, " at step ", step, "; lower ", lower,
                " (the last checkpoint is intact)");
}

std::string run_metrics_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "metrics.jsonl").string();
}

void plot_run_curves(const std::string& run_dir, const PlotOptions& plot, bool quiet) {
  try {
    plot_metrics_file(run_metrics_path(run_dir), (fs::path(run_dir) / "curves.png").string(), plot);
  } catch (const Error& e) {
    if (!quiet) std::cerr << "note: no plot: " << first_line(e.what()) << "\n";
  }
}

nlohmann::json read_run_info(const std::string& run_dir) {
  const fs::path p = fs::path(run_dir) / kRunFile;
  if (!fs::exists(p))
    throw_error(run_dir, ": no ", kRunFile,
                " (not a training run folder written by `editclip train-encoder` or "
                "`editclip train-editor`)");
  nlohmann::json j = read_json_file(p.string());
  if (!j.is_object() || j.value("format", "") != "editclip-run")
    throw_error(p.string(),
                ": not an editclip run description (\"format\" is not \"editclip-run\")");
  return j;
}

void write_run_info(const std::string& run_dir, const nlohmann::json& info) {
  fs::create_directories(run_dir);
  nlohmann::json j = info;
  j["format"] = "editclip-run";
  j["version"] = 1;
  write_json_file((fs::path(run_dir) / kRunFile).string(), j);
}

void all_reduce_gradients(Communicator& comm, const NamedParams& params, double scale) {
  std::vector<at::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) {
      if (comm.world_size() == 1) continue;
      p.mutable_grad() = at::zeros_like(p);
    }
    grads.push_back(p.grad());
  }
  comm.all_reduce_sum(grads);
  if (scale != 1.0) {
    at::NoGradGuard no_grad;
    for (auto& g : grads) g.mul_(scale);
  }
}

void broadcast_parameters(Communicator& comm, const NamedParams& params) {
  if (comm.world_size() == 1) return;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> v;
  for (const auto& [name, p] : params) v.push_back(p.detach());
  comm.broadcast(v, 0);
}

at::Generator sample_generator(uint64_t seed, int64_t step, int64_t position) {
  // 63 bits: torch seeds are taken as uint64 but printed/compared as signed elsewhere.
  const uint64_t key = hash_key({seed, static_cast<uint64_t>(step), static_cast<uint64_t>(position),
                                 0x65646974ULL}) >>
                       1;
  return make_cpu_generator(key);
}

ProgressLine::ProgressLine(bool enabled, int64_t total_steps, int64_t start_step,
                           std::chrono::seconds interval)
    : enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      meter_(total_steps, start_step),
      interval_(interval),
      last_print_(std::chrono::steady_clock::now()) {}

void ProgressLine::update(int64_t step, int64_t images, double loss, double lr) {
  line_ = meter_.update(step, images, loss, lr);
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    std::cerr << "\r" << line_ << "\033[K" << std::flush;
    pending_ = true;
  } else if (now - last_print_ >= interval_) {
    std::cerr << line_ << "\n" << std::flush;
    last_print_ = now;
    pending_ = false;
  } else {
    pending_ = true;
  }
}

void ProgressLine::note(const std::string& message) {
  if (!enabled_) return;
  if (tty_ && pending_) std::cerr << "\r\033[K";
  std::cerr << message << "\n";
  if (tty_ && pending_) std::cerr << line_ << std::flush;
}

void ProgressLine::finish() {
  if (!enabled_) return;
  if (tty_) {
    if (pending_) std::cerr << "\n";
  } else if (pending_ && !line_.empty()) {
    std::cerr << line_ << "\n";
  }
  pending_ = false;
  std::cerr << std::flush;
}

void check_resume_compatible(const nlohmann::json& saved, const nlohmann::json& now,
                             const std::vector<std::string>& keys, const std::string& where) {
  for (const auto& k : keys) {
    const nlohmann::json a = saved.contains(k) ? saved[k] : nlohmann::json();
    const nlohmann::json b = now.contains(k) ? now[k] : nlohmann::json();
    if (a != b)
      throw_error(where, ": --resume with a different '", k, "' (checkpoint ", a.dump(), ", now ",
                  b.dump(), "); pass the options of the interrupted run");
  }
}

std::string absolute_path(const std::string& path) {
  return fs::absolute(path).lexically_normal().string();
}

}  // namespace editclip
