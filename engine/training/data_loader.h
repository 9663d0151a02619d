// Batches of edit triplets for training, decoded and augmented on worker threads ahead of use.
//
// Determinism contract (what resume and data-parallel runs rely on):
//  - the order of an epoch is det_permutation(size, hash(seed, epoch)) (or identity without
//    shuffle); global batch `step` of an epoch holds order[step*G .. step*G + G) with G the global
//    batch size; the last incomplete global batch is dropped (drop_last, the default);
//  - rank r of world_size W reads the contiguous slice [r*B, (r+1)*B) of each global batch, B =
//    G / W, so the ranks' batches concatenated in rank order are the single-process batch;
//  - every random augmentation draw of a sample comes from hash(seed, epoch, dataset index), so a
//    batch is bit-identical whatever the thread count or timing, and after seek(position);
//  - the optional model-input hook (LoaderOptions::pair_pixels) is a pure per-sample function of
//    the transformed images, run on the same workers, so it keeps that property.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/training/dataset.h"

namespace editclip {

// Where the loader stands: the next batch to be returned is batch `step` of epoch `epoch`.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t step = 0;                // global batch index inside the epoch
  nlohmann::json to_json() const;  // {"epoch": E, "step": S}
  static LoaderPosition from_json(const nlohmann::json& j);
  bool operator==(const LoaderPosition& o) const { return epoch == o.epoch && step == o.step; }
};

// Per-sample image pipeline: PIL bicubic resize of both images to resize x resize (aspect not
// kept: the authors' Image.resize((256, 256))), then an optional random crop of crop x crop at
// the same offsets in both images (crop <= 0 or crop == resize: none), then an optional random
// horizontal flip of both images together.
struct SampleTransform {
  int64_t resize = 256;
  int64_t crop = 0;
  bool random_flip = true;
  int64_t output_size() const { return crop > 0 ? crop : resize; }
};

// One sample after the transform: uint8 [S,S,3] images.
struct EditSample {
  at::Tensor input_u8, edited_u8;
  bool flipped = false;
  int64_t crop_x = 0, crop_y = 0;
};
// The pure per-sample function the loader runs on its workers. Draws from hash(seed, epoch, index).
EditSample load_edit_sample(const EditTriplet& triplet, const SampleTransform& transform,
                            uint64_t seed, int64_t epoch, int64_t index);
// The same on already-decoded uint8 [H,W,3] images.
EditSample transform_edit_sample(const at::Tensor& input_u8, const at::Tensor& edited_u8,
                                 const SampleTransform& transform, uint64_t seed, int64_t epoch,
                                 int64_t index);

// Model input of one sample, computed on the loader's workers so that the training thread (and
// the GPU) never waits on it: the transformed (input, edited) uint8 [S,S,3] images -> a float
// tensor of the same shape for every sample (e.g. the [6,H,W] CLIP pixels of the pair). Must be a
// pure function of its arguments and safe to call from several threads at once.
using PairPixelsFn =
    std::function<at::Tensor(const at::Tensor& input_u8, const at::Tensor& edited_u8)>;

struct LoaderOptions {
  int64_t global_batch = 1;  // across all ranks; must be divisible by world_size
  int rank = 0, world_size = 1;
  uint64_t seed = 0;
  bool shuffle = true;
  bool drop_last = true;  // false (evaluation): the last global batch may be short, and then
                          // split as evenly as possible across ranks (some may get 0 samples)
  SampleTransform transform;
  PairPixelsFn pair_pixels;  // optional: fills EditBatch::pair_pixels
  bool keep_images = true;   // false: EditBatch::input / edited are left undefined (only
                             // pair_pixels is used)
  int threads = 2;           // decoding threads; 0 decodes synchronously inside next()
  int prefetch = 2;          // batches prepared ahead of the one being consumed (>= 1)
};

// A rank's share of one global batch.
struct EditBatch {
  at::Tensor input;   // [B,3,S,S] float32 = u8 / 255 exactly (round(x * 255) gives the uint8 back)
  at::Tensor edited;  // [B,3,S,S] float32, same
  at::Tensor pair_pixels;  // [B,...] LoaderOptions::pair_pixels of each sample, stacked (undefined
                           // without it or for an empty batch)
  std::vector<std::string> instructions;  // B
  std::vector<int64_t> indices;           // B dataset indices
  LoaderPosition position;                // which batch this is
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

class EditDataLoader {
 public:
  // Error when the dataset is smaller than one global batch (with drop_last), or the batch does
  // not divide by world_size, or rank is out of range.
  EditDataLoader(const EditDataset& dataset, LoaderOptions options);
  ~EditDataLoader();  // stops and joins the workers
  EditDataLoader(const EditDataLoader&) = delete;
  EditDataLoader& operator=(const EditDataLoader&) = delete;

  const LoaderOptions& options() const;
  int64_t local_batch() const;      // global_batch / world_size
  int64_t steps_per_epoch() const;  // global batches per epoch

  // The next batch of this rank; moves on to the next epoch after the last step. Errors raised on
  // a worker (e.g. a file deleted since validation) are rethrown here, naming the file.
  EditBatch next();
  // Position of the batch the next call to next() returns (save it in checkpoints).
  LoaderPosition position() const;
  // Restarts from `position` (drops what was prefetched); the batches that follow are the ones an
  // uninterrupted loader would have produced from there.
  void seek(const LoaderPosition& position);

  // The schedule, without decoding anything (tests, evaluation, logging).
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  std::vector<int64_t> global_batch_indices(const LoaderPosition& position) const;
  std::vector<int64_t> local_batch_indices(const LoaderPosition& position) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace editclip
