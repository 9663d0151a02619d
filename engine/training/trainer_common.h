// Pieces both trainers share: the run folder's run.json, gradient synchronisation across ranks,
// progress output on stderr, and the per-sample random draws that make a step independent of how
// its global batch is split over ranks.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/training/adamw.h"
#include "engine/training/distributed.h"
#include "engine/training/metrics_log.h"

namespace editclip {

// RUN_DIR/run.json: {"format": "editclip-run", "version": 1, "kind": "encoder" | "editor",
// "options": {...}, "models": {...}}; export reads it to find the init folders.
inline constexpr const char* kRunFile = "run.json";
nlohmann::json read_run_info(const std::string& run_dir);  // Error naming the folder
void write_run_info(const std::string& run_dir, const nlohmann::json& info);

// Sums every parameter's gradient over the ranks and multiplies it by `scale`. Parameters
// without a gradient on this rank contribute zeros (so every rank issues the same collective)
// and receive the sum.
void all_reduce_gradients(Communicator& comm, const NamedParams& params, double scale);

// Parameters equal on every rank: rank 0's values are broadcast (as DDP does at start-up).
void broadcast_parameters(Communicator& comm, const NamedParams& params);

// A CPU generator for the random draws of one sample of one step, keyed by (seed, step,
// position in the global batch): the draws do not depend on the world size, the rank or the
// thread, and a resumed run needs no generator state to continue identically.
at::Generator sample_generator(uint64_t seed, int64_t step, int64_t position);

// Progress on stderr: on a terminal one line rewritten in place, otherwise a line every
// `interval` (logs stay readable); only on rank 0, and nothing when quiet.
class ProgressLine {
 public:
  ProgressLine(bool enabled, int64_t total_steps, int64_t start_step,
               std::chrono::seconds interval = std::chrono::seconds(10));
  void update(int64_t step, int64_t images, double loss, double lr);
  // Prints a message on its own line (keeps the bar intact on a terminal).
  void note(const std::string& message);
  void finish();

 private:
  bool enabled_, tty_;
  ProgressMeter meter_;
  std::chrono::seconds interval_;
  std::chrono::steady_clock::time_point last_print_;
  std::string line_;
  bool pending_ = false;
};

// Hyper-parameters that must not change across --resume for the continuation to equal an
// uninterrupted run: Error naming the first differing key.
void check_resume_compatible(const nlohmann::json& saved, const nlohmann::json& now,
                             const std::vector<std::string>& keys, const std::string& where);

// Absolute, normalised path (for run.json).
std::string absolute_path(const std::string& path);

}  // namespace editclip
