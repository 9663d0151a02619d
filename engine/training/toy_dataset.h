// A tiny synthetic edit dataset for tests and demos: procedural images (gradients, shapes, noise)
// with one of a few global edits, each described by a few instruction phrasings. Learnable in
// minutes by a tiny model: an edit embedding that distinguishes the kinds retrieves the right
// instruction. Deterministic from the seed.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/training/dataset.h"

namespace editclip {

// "brighten", "darken", "invert", "red_tint", "blue_tint", "blur", "flip", "grayscale".
const std::vector<std::string>& toy_edit_kinds();
// The instruction phrasings of a kind (2-3 each). Error on an unknown kind.
const std::vector<std::string>& toy_instructions(const std::string& kind);

// A procedural uint8 [size,size,3] image from `seed`.
at::Tensor toy_source_image(uint64_t seed, int64_t size);
// The edit applied to uint8 [H,W,3] -> uint8 [H,W,3].
at::Tensor apply_toy_edit(const std::string& kind, const at::Tensor& hwc_u8);

struct ToyDatasetOptions {
  int64_t count = 64;       // pairs
  int64_t image_size = 64;  // pixels
  uint64_t seed = 0;
  std::vector<std::string> kinds;  // empty: all
  // Also (or, with manifest=false, only) write the InstructPix2Pix folder layout under
  // OUT/ip2p/: <NNNNNNN>/prompt.json + <seed>_0.jpg / <seed>_1.jpg, and seeds.json.
  bool ip2p_layout = false;
  bool manifest = true;  // OUT/manifest.jsonl + OUT/images/<i>_{input,edited}.png
};

struct ToyDataset {
  std::string manifest_path;          // empty when not written
  std::string ip2p_root;              // empty when not written
  std::vector<EditTriplet> triplets;  // what the manifest holds (absolute paths)
  std::vector<std::string> kinds;     // the edit kind of each triplet
};

// Writes the dataset under out_dir (created). Kinds cycle through the list, so every kind occurs
// count / kinds times; the phrasing and image are drawn from the seed.
ToyDataset write_toy_dataset(const std::string& out_dir, const ToyDatasetOptions& options = {});

}  // namespace editclip
