#include "engine/training/trainer_common.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/training/det_rng.h"
#include "engine/training/trainable_models.h"

namespace fs = std::filesystem;

namespace editclip {

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
