// Run folders with atomic, numbered checkpoints:
//
//   RUN_DIR/step-<N>/<file>.safetensors   one file per entry of Checkpoint::tensors (e.g. "model",
//                                         "optimizer", "ema"), written with write_safetensors
//   RUN_DIR/step-<N>/state.json           {"format": "editclip-checkpoint", "version": 1, "step",
//                                         "epoch", "data": LoaderPosition, "rng": {name: hex},
//                                         "optimizer": AdamW::state_json, "config": ...,
//                                         "extra": ..., "tensor_files": [...]}
//
// A checkpoint is written into RUN_DIR/.tmp-step-<N>-<pid> and renamed to step-<N> only when
// every file is complete and flushed; on any failure the temporary folder is removed and the error
// rethrown, so a step-<N> folder is always whole. Folders without state.json are ignored.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/training/data_loader.h"

namespace editclip {

struct Checkpoint {
  int64_t step = 0;   // optimizer steps done
  int64_t epoch = 0;  // informational (the data position is authoritative)
  LoaderPosition data;
  // Named random generator states (CPU at::Generator get_state bytes), e.g. {"cpu": ...}.
  std::map<std::string, at::Tensor> rng;
  nlohmann::json optimizer = nlohmann::json::object();  // AdamW::state_json()
  nlohmann::json config = nlohmann::json::object();     // the run's settings
  nlohmann::json extra = nlohmann::json::object();      // anything else the trainer wants back
  // file stem -> tensors, e.g. {"model": {...}, "optimizer": AdamW::state_tensors()}.
  std::map<std::string, std::map<std::string, at::Tensor>> tensors;
};

class CheckpointManager {
 public:
  // keep_last <= 0 keeps everything. The run folder is created on the first save.
  explicit CheckpointManager(std::string run_dir, int keep_last = 3);

  const std::string& run_dir() const { return run_dir_; }
  std::string step_dir(int64_t step) const;  // RUN_DIR/step-<N>

  // Writes step-<ckpt.step> atomically (replacing an existing one of the same step), then removes
  // the oldest complete checkpoints beyond keep_last and stale temporary folders. Returns the
  // checkpoint folder.
  std::string save(const Checkpoint& ckpt);

  // Complete checkpoints, ascending by step: (step, folder).
  std::vector<std::pair<int64_t, std::string>> list() const;
  std::optional<std::string> latest() const;

  // Loads a checkpoint folder (tensors are memory-mapped CPU tensors). Error naming the folder
  // when state.json or a listed tensor file is missing or malformed.
  static Checkpoint load(const std::string& dir);

 private:
  std::string run_dir_;
  int keep_last_;
};

// CPU generator state as a uint8 tensor (at::Generator::get_state) and back.
at::Tensor generator_state(const at::Generator& generator);
void set_generator_state(at::Generator& generator, const at::Tensor& state);
// The default CPU generator (torch.manual_seed's), for trainers that draw from it.
at::Generator& default_cpu_generator();

// Hex codec used for RNG states in state.json.
std::string bytes_to_hex(const at::Tensor& u8);
at::Tensor hex_to_bytes(const std::string& hex);

}  // namespace editclip
