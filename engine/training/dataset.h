// Edit-triplet datasets for training: (input image, edited image, instruction).
//
// Two on-disk layouts are read, and told apart automatically:
//  - Manifest: a JSONL file, one JSON object per line. Keys (first present wins):
//      input image:  "input", "input_image", "original", "original_image", "source"
//      edited image: "edited", "edited_image", "output_image", "target", "target_image"
//      instruction:  "instruction", "edit", "edit_prompt", "prompt", "text"
//    Relative paths are relative to the manifest's folder. Blank lines are ignored. `--data` may
//    name the .jsonl file or a folder holding `manifest.jsonl`. An optional "group" (string or
//    number) names the held-out split unit (e.g. the prompt a pair was generated from); without
//    it, entries with the same input image and instruction form a group.
//  - InstructPix2Pix (timbrooks/instruct-pix2pix, generate_img_dataset.py): a root folder with one
//    folder per prompt holding `prompt.json` ({"input": caption, "edit": instruction, "output":
//    edited caption}; only "edit" is used) and image pairs `<seed>_0.jpg` (input) /
//    `<seed>_1.jpg` (edited). When the root has `seeds.json` ([[folder, [seed, ...]], ...], as in
//    the released clip-filtered set) it lists the folders and seeds; otherwise prompt folders are
//    found by scanning (up to two levels deep, e.g. shard folders) and every `<seed>_0.*` with a
//    matching `<seed>_1.*` (.jpg, .jpeg, .png, .webp) is a pair. Unlike edit_dataset.py, which
//    draws one random seed per prompt per access, every pair is its own triplet here, so an epoch
//    is deterministic. All pairs of one prompt folder are one group of the held-out split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace editclip {

struct EditTriplet {
  std::string input_path;  // absolute or relative to the working directory (already resolved)
  std::string edited_path;
  std::string instruction;
  std::string origin;  // where it was declared, for messages: "data.jsonl:12" or a prompt folder
  // The unit of the held-out split: entries with the same group land on the same side, so that
  // near-duplicates (the seeds of one InstructPix2Pix prompt) do not inflate held-out retrieval.
  // Empty: a group of its own.
  std::string group;
};

enum class DatasetFormat { Auto, Manifest, InstructPix2Pix };
std::string dataset_format_name(DatasetFormat format);  // "auto", "manifest", "instruct-pix2pix"
DatasetFormat parse_dataset_format(const std::string& name);  // Error on anything else
// Manifest for a file or a folder with manifest.jsonl; InstructPix2Pix for a folder with
// seeds.json or prompt folders; Error (naming the path and the accepted layouts) otherwise.
DatasetFormat detect_dataset_format(const std::string& path);

struct DatasetOptions {
  DatasetFormat format = DatasetFormat::Auto;
  // Drop bad entries (missing files, undecodable images, empty instruction, malformed lines)
  // instead of failing; they are counted and listed in the report.
  bool skip_bad = false;
  // Decode every image once up front (on `threads` worker threads) to find corrupt files before
  // training starts. Off: only existence is checked.
  bool decode_check = true;
  int threads = 0;  // 0: hardware concurrency (at least 1)
  // Progress of the validation, (triplets checked, total); called from the worker threads, one
  // call at a time.
  std::function<void(size_t, size_t)> progress;
  // Sharded validation (data-parallel runs): this process checks the files of the entries i with
  // i % shard_count == shard_rank only; `combine` (required when shard_count > 1) must turn the
  // per-entry bad flags (1 = bad, 0 = good or not checked here) into their OR over all shards,
  // in place, on every shard (e.g. an all-reduce), so that every process keeps the same entries.
  int shard_rank = 0, shard_count = 1;
  std::function<void(std::vector<uint8_t>& bad)> combine;
};

struct DatasetProblem {
  std::string where;  // "data.jsonl:12", "data/0000123 (seed 45)", ...
  std::string what;   // "data/a.png: no such file", "missing key \"instruction\"", ...
  // Found by this process. false: found by another shard of a sharded validation, which reports
  // it (`what` then only says so). Problems of the declaration itself (bad JSON, missing keys)
  // are local to shard 0.
  bool local = true;
};

struct DatasetReport {
  DatasetFormat format = DatasetFormat::Auto;
  size_t declared = 0;  // entries found in the manifest / folders
  size_t kept = 0;
  std::vector<DatasetProblem> problems;  // every skipped entry, in declaration order
};

class EditDataset {
 public:
  EditDataset() = default;
  explicit EditDataset(std::vector<EditTriplet> items, std::string origin = "");

  // Reads and validates a dataset. Without skip_bad, any problem throws an editclip::Error listing
  // the first few problems, the total count, and suggesting --skip-bad. Also an Error when no
  // usable triplet remains.
  static EditDataset load(const std::string& path, const DatasetOptions& options = {});

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const EditTriplet& operator[](size_t i) const { return items_.at(i); }
  const std::vector<EditTriplet>& items() const { return items_; }
  const std::string& origin() const { return origin_; }
  const DatasetReport& report() const { return report_; }

  // Deterministic held-out split by group (EditTriplet::group): the target is k =
  // round(fraction * size) items (at least 1 when fraction > 0 and size >= 2), at most
  // `max_heldout` (> 0). Whole groups are taken in an order drawn from `seed`, each only if it
  // still fits in k, so the held-out part is never bigger than asked (with large groups it can be
  // smaller); when no group fits, the smallest group (within max_heldout, leaving a training item)
  // is held out. Every item is in exactly one half (train + heldout == size); both keep the
  // original order.
  // With singleton groups exactly min(k, max_heldout) items are held out. Returns {train, heldout}.
  std::pair<EditDataset, EditDataset> split(double heldout_fraction, uint64_t seed,
                                            size_t max_heldout = 0) const;
  // The subset at the given indices (in that order).
  EditDataset subset(const std::vector<size_t>& indices) const;

 private:
  std::vector<EditTriplet> items_;
  std::string origin_;
  DatasetReport report_;
};

// Validation on its own (what load() runs): checks existence and (decode_check) decodability of
// every image in parallel. Returns the problems, one per bad triplet, in input order; `bad[i]` is
// set for each bad index.
std::vector<DatasetProblem> validate_triplets(const std::vector<EditTriplet>& items,
                                              const DatasetOptions& options,
                                              std::vector<bool>* bad = nullptr);

}  // namespace editclip
