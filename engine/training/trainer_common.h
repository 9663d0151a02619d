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
#include <optional>
#include <string>
#include <vector>

#include "engine/image/clip_image_processor.h"
#include "engine/training/adamw.h"
#include "engine/training/checkpoint.h"
#include "engine/training/data_loader.h"
#include "engine/training/dataset.h"
#include "engine/training/distributed.h"
#include "engine/training/metrics_log.h"

namespace editclip {

// The options of a training run that do not depend on what is trained (same meaning and defaults
// in train-encoder and train-editor); the trainers' option structs extend it.
struct TrainRunOptions {
  std::string data;  // manifest .jsonl, folder with manifest.jsonl, or InstructPix2Pix root
  std::string data_format = "auto";
  std::string out;  // run folder
  bool skip_bad = false;

  int64_t stop_after = 0;  // > 0: stop (with a checkpoint) after this many steps of this call
  uint64_t seed = 0;
  int workers = 2;  // decoding threads

  int64_t save_every = 1000;
  int keep_last = 3;
  bool resume = false;
  int64_t log_every = 1;
  bool plot = true;

  std::string device = "auto";
  int threads = 0;
  bool quiet = false;

  // Adds the options recorded in run.json and the checkpoints' config.
  void add_to_json(nlohmann::json& j) const;
};

// The device of this rank for --device `choice`: CUDA device LOCAL_RANK when it resolves to CUDA.
at::Device training_device(const std::string& choice);

// A loader batch image (float32 CHW in [0, 1], exactly u8 / 255) back to uint8 HWC.
at::Tensor to_u8_hwc(const at::Tensor& chw01);

// Loads and validates opt.data. The file checks are sharded across the ranks of `comm` and the
// bad entries combined (all-reduce), so every rank keeps the same entries while each decodes only
// its share. Entries skipped by --skip-bad are listed on stderr (unless quiet) by the rank that
// found them; rank 0 prints the count.
EditDataset load_training_data(const TrainRunOptions& opt, Communicator& comm);

// The training loader of this rank: `batch` pairs per rank, shuffled by opt.seed, images resized
// to `resize`, `pixels` (optional) computed on the workers.
LoaderOptions training_loader_options(const TrainRunOptions& opt, const Communicator& comm,
                                      int64_t batch, int64_t resize, bool flip,
                                      PairPixelsFn pixels = {});

// The 6-channel vision-tower input of a pair, as loader hooks ([6,S,S] float32 per sample):
//  - open_clip's training transform (the authors' preprocess_train) on images the loader already
//    resized to S x S: ToTensor (u8 / 255) and Normalize with the processor's mean/std, each image;
//  - the authors' inference path (editclip_pair_pixels: resize to `resize`, then the CLIP
//    processor: shortest side, centre crop, normalise);
//  - the editor's training path (editclip_pair_pixels_train, dataset_wrapper.py).
PairPixelsFn open_clip_train_pair_pixels(const ClipImageProcessor& processor);
PairPixelsFn inference_pair_pixels(const ClipImageProcessor& processor, int64_t resize);
PairPixelsFn editor_train_pair_pixels(const ClipImageProcessor& processor, int64_t size);

// With --resume: the latest complete checkpoint of opt.out, after check_resume_compatible() of
// `keys` against `config` (announced on stderr when `verbose`). Without: nothing, and an Error
// when opt.out already holds checkpoints (a new run must not mix with an old one).
struct ResumePoint {
  std::string path;
  Checkpoint checkpoint;
};
std::optional<ResumePoint> find_resume_point(const CheckpointManager& checkpoints,
                                             const TrainRunOptions& opt,
                                             const nlohmann::json& config,
                                             const std::vector<std::string>& keys, bool verbose);

// A checkpoint of `step` with the state every trainer saves (data position, optimizer, config);
// the trainer adds its model tensors and extras.
Checkpoint training_checkpoint(int64_t step, const EditDataLoader& loader, const AdamW& optimizer,
                               const nlohmann::json& config);

// Error when a step's loss is NaN or infinite; `lower` names the options to lower.
void check_loss_finite(double loss, int64_t step, const std::string& lower);

// RUN_DIR/metrics.jsonl.
std::string run_metrics_path(const std::string& run_dir);

// RUN_DIR/curves.png from the metrics log; a failure is a note on stderr (unless quiet), not an
// error (the run itself succeeded).
void plot_run_curves(const std::string& run_dir, const PlotOptions& plot, bool quiet);

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
