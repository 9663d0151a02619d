#include "engine/training/dataset.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "engine/core/error.h"
#include "engine/image/image_io.h"
#include "engine/training/det_rng.h"

namespace editclip {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kInputKeys[] = {"input", "input_image", "original", "original_image",
                                      "source"};
constexpr const char* kEditedKeys[] = {"edited", "edited_image", "output_image", "target",
                                       "target_image"};
constexpr const char* kInstructionKeys[] = {"instruction", "edit", "edit_prompt", "prompt", "text"};

// Entries as declared, before validation; `problem` set when the declaration itself is bad.
struct Declared {
  EditTriplet triplet;
  std::string problem;
};

template <size_t N>
const json* find_key(const json& obj, const char* const (&keys)[N]) {
  for (const char* k : keys) {
    auto it = obj.find(k);
    if (it != obj.end()) return &*it;
  }
  return nullptr;
}

template <size_t N>
std::string key_list(const char* const (&keys)[N]) {
  std::string s;
  for (const char* k : keys) s += (s.empty() ? "\"" : ", \"") + std::string(k) + "\"";
  return s;
}

std::string resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  return (path.is_absolute() ? path : base / path).lexically_normal().string();
}

std::vector<Declared> read_manifest(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw_error("dataset ", file, ": cannot open the manifest (check the path)");
  const fs::path base = fs::path(file).parent_path();
  const std::string name = fs::path(file).filename().string();
  std::vector<Declared> out;
  std::string line;
  for (size_t lineno = 1; std::getline(in, line); ++lineno) {
    if (std::all_of(line.begin(), line.end(), [](unsigned char c) { return std::isspace(c); }))
      continue;
    Declared d;
    d.triplet.origin = concat(name, ":", lineno);
    json obj;
    try {
      obj = json::parse(line);
    } catch (const json::exception& e) {
      d.problem = concat("not valid JSON (", first_line(e.what()), ")");
      out.push_back(std::move(d));
      continue;
    }
    if (!obj.is_object()) {
      d.problem = "not a JSON object";
      out.push_back(std::move(d));
      continue;
    }
    const json* in_v = find_key(obj, kInputKeys);
    const json* ed_v = find_key(obj, kEditedKeys);
    const json* ins_v = find_key(obj, kInstructionKeys);
    if (!in_v || !in_v->is_string())
      d.problem = concat("no input image path (a string under one of ", key_list(kInputKeys), ")");
    else if (!ed_v || !ed_v->is_string())
      d.problem =
          concat("no edited image path (a string under one of ", key_list(kEditedKeys), ")");
    else if (!ins_v || !ins_v->is_string())
      d.problem = concat("no instruction (a string under one of ", key_list(kInstructionKeys), ")");
    else {
      d.triplet.input_path = resolve(base, in_v->get<std::string>());
      d.triplet.edited_path = resolve(base, ed_v->get<std::string>());
      d.triplet.instruction = ins_v->get<std::string>();
      if (d.triplet.instruction.find_first_not_of(" \t\r\n") == std::string::npos)
        d.problem = "empty instruction";
      auto g = obj.find("group");
      if (g != obj.end() && !g->is_null())
        d.triplet.group = "group:" + (g->is_string() ? g->get<std::string>() : g->dump());
      else
        d.triplet.group = "pair:" + d.triplet.input_path + "\n" + d.triplet.instruction;
    }
    out.push_back(std::move(d));
  }
  return out;
}

bool is_image_ext(const std::string& ext) {
  std::string e = ext;
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e == ".jpg" || e == ".jpeg" || e == ".png" || e == ".webp";
}

// The instruction of a prompt folder, or a problem.
std::string read_prompt_edit(const fs::path& folder, std::string* problem) {
  const fs::path file = folder / "prompt.json";
  std::ifstream in(file);
  if (!in) {
    *problem = concat(file.string(), ": no such file");
    return {};
  }
  try {
    const json j = json::parse(in);
    auto it = j.find("edit");
    if (it == j.end() || !it->is_string()) {
      *problem = concat(file.string(), ": no \"edit\" string (the instruction)");
      return {};
    }
    std::string edit = it->get<std::string>();
    if (edit.find_first_not_of(" \t\r\n") == std::string::npos)
      *problem = concat(file.string(), ": empty \"edit\" instruction");
    return edit;
  } catch (const json::exception& e) {
    *problem = concat(file.string(), ": not valid JSON (", first_line(e.what()), ")");
    return {};
  }
}

// "<seed>_<k>.<ext>" in `folder` for the first image extension that exists; the .jpg name when
// none does (so the problem names the file the layout expects).
std::string pair_file(const fs::path& folder, const std::string& seed, int k) {
  for (const char* ext : {".jpg", ".jpeg", ".png", ".webp"}) {
    fs::path p = folder / concat(seed, "_", k, ext);
    std::error_code ec;
    if (fs::exists(p, ec)) return p.string();
  }
  return (folder / concat(seed, "_", k, ".jpg")).string();
}

void add_prompt_folder(const fs::path& folder, const std::vector<std::string>& seeds,
                       std::vector<Declared>* out) {
  std::string problem;
  const std::string edit = read_prompt_edit(folder, &problem);
  for (const std::string& seed : seeds) {
    Declared d;
    d.triplet.origin = concat(folder.string(), " (seed ", seed, ")");
    d.triplet.input_path = pair_file(folder, seed, 0);
    d.triplet.edited_path = pair_file(folder, seed, 1);
    d.triplet.instruction = edit;
    d.triplet.group = "prompt:" + folder.lexically_normal().string();
    d.problem = problem;
    out->push_back(std::move(d));
  }
}

// Seeds with a "<seed>_0.*" image in the folder, sorted numerically when they are numbers.
std::vector<std::string> scan_seeds(const fs::path& folder) {
  std::set<std::string> seeds;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    if (!e.is_regular_file(ec)) continue;
    const std::string stem = e.path().stem().string();
    if (!is_image_ext(e.path().extension().string())) continue;
    if (stem.size() > 2 && stem.compare(stem.size() - 2, 2, "_0") == 0)
      seeds.insert(stem.substr(0, stem.size() - 2));
  }
  std::vector<std::string> v(seeds.begin(), seeds.end());
  std::sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) {
    const bool na = !a.empty() && std::all_of(a.begin(), a.end(), ::isdigit);
    const bool nb = !b.empty() && std::all_of(b.begin(), b.end(), ::isdigit);
    if (na && nb && a.size() != b.size()) return a.size() < b.size();
    return a < b;
  });
  return v;
}

std::vector<fs::path> sorted_subdirs(const fs::path& dir) {
  std::vector<fs::path> v;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

// Prompt folders up to two levels below root.
std::vector<fs::path> find_prompt_folders(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const fs::path& d : sorted_subdirs(root)) {
    if (fs::exists(d / "prompt.json", ec)) {
      out.push_back(d);
      continue;
    }
    for (const fs::path& dd : sorted_subdirs(d))
      if (fs::exists(dd / "prompt.json", ec)) out.push_back(dd);
  }
  return out;
}

std::vector<Declared> read_ip2p(const fs::path& root) {
  std::vector<Declared> out;
  std::error_code ec;
  const fs::path seeds_file = root / "seeds.json";
  if (fs::exists(seeds_file, ec)) {
    std::ifstream in(seeds_file);
    json j;
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw_error("dataset ", seeds_file.string(), ": not valid JSON (", first_line(e.what()), ")");
    }
    if (!j.is_array())
      throw_error("dataset ", seeds_file.string(),
                  ": expected a list of [prompt folder, [seeds...]] entries");
    for (size_t i = 0; i < j.size(); ++i) {
      const json& e = j[i];
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_array()) {
        Declared d;
        d.triplet.origin = concat(seeds_file.filename().string(), " entry ", i);
        d.problem = "expected [prompt folder, [seeds...]]";
        out.push_back(std::move(d));
        continue;
      }
      std::vector<std::string> seeds;
      for (const json& s : e[1]) seeds.push_back(s.is_string() ? s.get<std::string>() : s.dump());
      add_prompt_folder(root / e[0].get<std::string>(), seeds, &out);
    }
    return out;
  }
  for (const fs::path& folder : find_prompt_folders(root)) {
    const std::vector<std::string> seeds = scan_seeds(folder);
    if (seeds.empty()) {
      Declared d;
      d.triplet.origin = folder.string();
      d.problem = "no <seed>_0.jpg / <seed>_1.jpg image pairs";
      out.push_back(std::move(d));
      continue;
    }
    add_prompt_folder(folder, seeds, &out);
  }
  return out;
}

// The first `max_listed` problems this process found; those of other shards are only counted
// (their shard prints them).
std::string format_problems(const std::vector<DatasetProblem>& problems, size_t max_listed) {
  std::string s;
  size_t listed = 0, local = 0;
  for (const DatasetProblem& p : problems) {
    if (!p.local) continue;
    ++local;
    if (listed < max_listed) s += (listed++ ? "; " : "") + p.where + ": " + p.what;
  }
  if (local > listed) s += concat("; and ", local - listed, " more");
  if (problems.size() > local)
    s += concat(s.empty() ? "" : "; ", problems.size() - local,
                " found by the other ranks (listed in their messages)");
  return s;
}

}  // namespace

std::string dataset_format_name(DatasetFormat format) {
  switch (format) {
    case DatasetFormat::Auto:
      return "auto";
    case DatasetFormat::Manifest:
      return "manifest";
    case DatasetFormat::InstructPix2Pix:
      return "instruct-pix2pix";
  }
  return "?";
}

DatasetFormat parse_dataset_format(const std::string& name) {
  if (name == "auto") return DatasetFormat::Auto;
  if (name == "manifest" || name == "jsonl") return DatasetFormat::Manifest;
  if (name == "instruct-pix2pix" || name == "ip2p") return DatasetFormat::InstructPix2Pix;
  throw_error("unknown dataset format \"", name,
              "\" (expected auto, manifest or instruct-pix2pix)");
}

DatasetFormat detect_dataset_format(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_error("dataset ", path, ": no such file or folder");
  if (!fs::is_directory(path, ec)) return DatasetFormat::Manifest;
  const fs::path root(path);
  if (fs::exists(root / "manifest.jsonl", ec)) return DatasetFormat::Manifest;
  if (fs::exists(root / "seeds.json", ec) || !find_prompt_folders(root).empty())
    return DatasetFormat::InstructPix2Pix;
  throw_error("dataset ", path,
              ": not a known layout (expected a .jsonl manifest, a folder with manifest.jsonl, or "
              "an InstructPix2Pix folder with seeds.json or <prompt>/prompt.json + "
              "<seed>_0.jpg/<seed>_1.jpg)");
}

EditDataset::EditDataset(std::vector<EditTriplet> items, std::string origin)
    : items_(std::move(items)), origin_(std::move(origin)) {
  report_.declared = report_.kept = items_.size();
}

std::vector<DatasetProblem> validate_triplets(const std::vector<EditTriplet>& items,
                                              const DatasetOptions& options,
                                              std::vector<bool>* bad_out) {
  const size_t n = items.size();
  std::vector<std::string> problem(n);
  std::atomic<size_t> next{0}, done{0};
  std::mutex progress_mutex;
  auto check_file = [&](const std::string& path) -> std::string {
    std::error_code ec;
    if (!fs::exists(path, ec)) return concat(path, ": no such file");
    if (!fs::is_regular_file(path, ec)) return concat(path, ": not a regular file");
    if (options.decode_check) {
      if (!image_codecs_available()) return {};  // nothing to check with; loading will say so
      try {
        load_image_rgb(path);
      } catch (const Error& e) {
        return e.what();
      } catch (const std::exception& e) {
        return concat(path, ": ", first_line(e.what()));
      }
    }
    return {};
  };
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      std::string p = check_file(items[i].input_path);
      if (p.empty()) p = check_file(items[i].edited_path);
      problem[i] = std::move(p);
      const size_t d = done.fetch_add(1) + 1;
      if (options.progress && (d % 64 == 0 || d == n)) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        options.progress(d, n);
      }
    }
  };
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = static_cast<int>(std::max<size_t>(1, std::min<size_t>(std::max(threads, 1), n)));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  std::vector<DatasetProblem> out;
  if (bad_out) bad_out->assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (problem[i].empty()) continue;
    out.push_back({items[i].origin, problem[i]});
    if (bad_out) (*bad_out)[i] = true;
  }
  return out;
}

EditDataset EditDataset::load(const std::string& path, const DatasetOptions& options) {
  DatasetFormat format =
      options.format == DatasetFormat::Auto ? detect_dataset_format(path) : options.format;
  std::error_code ec;
  std::vector<Declared> declared;
  if (format == DatasetFormat::Manifest) {
    std::string file = path;
    if (fs::is_directory(path, ec)) file = (fs::path(path) / "manifest.jsonl").string();
    declared = read_manifest(file);
  } else {
    if (!fs::is_directory(path, ec))
      throw_error("dataset ", path, ": an InstructPix2Pix dataset is a folder");
    declared = read_ip2p(path);
  }

  // Declaration problems first, then file checks of the well-declared entries.
  std::vector<EditTriplet> candidates;
  std::vector<size_t> candidate_pos;
  std::vector<std::string> problem(declared.size());
  for (size_t i = 0; i < declared.size(); ++i) {
    if (!declared[i].problem.empty()) {
      problem[i] = declared[i].problem;
    } else {
      candidates.push_back(declared[i].triplet);
      candidate_pos.push_back(i);
    }
  }
  // Each shard checks the files of its own candidates; the flags are then combined so that every
  // shard drops the same entries.
  const int shards = std::max(options.shard_count, 1);
  if (options.shard_rank < 0 || options.shard_rank >= shards)
    throw_error("dataset ", path, ": shard ", options.shard_rank, " of ", shards);
  if (shards > 1 && !options.combine)
    throw_error("dataset ", path, ": sharded validation needs a combine function");
  std::vector<size_t> mine;
  std::vector<EditTriplet> checked;
  for (size_t c = 0; c < candidates.size(); ++c)
    if (static_cast<int>(c % static_cast<size_t>(shards)) == options.shard_rank) {
      mine.push_back(c);
      checked.push_back(candidates[c]);
    }
  std::vector<bool> bad_mine;
  const std::vector<DatasetProblem> file_problems = validate_triplets(checked, options, &bad_mine);
  std::vector<uint8_t> bad(candidates.size(), 0);
  for (size_t m = 0, f = 0; m < mine.size(); ++m)
    if (bad_mine[m]) {
      bad[mine[m]] = 1;
      problem[candidate_pos[mine[m]]] = file_problems[f++].what;
    }
  if (shards > 1) {
    options.combine(bad);
    if (bad.size() != candidates.size())
      throw_error("dataset ", path, ": the combined bad-entry flags have the wrong size");
  }
  // Problems found by another shard: flagged, described there.
  std::vector<bool> remote(declared.size(), false);
  for (size_t c = 0; c < candidates.size(); ++c)
    if (bad[c] && problem[candidate_pos[c]].empty()) {
      problem[candidate_pos[c]] = "bad (reported by another rank)";
      remote[candidate_pos[c]] = true;
    }
  for (size_t i = 0; i < declared.size(); ++i)
    if (!declared[i].problem.empty() && options.shard_rank != 0) remote[i] = true;

  EditDataset ds;
  ds.origin_ = path;
  ds.report_.format = format;
  ds.report_.declared = declared.size();
  for (size_t i = 0; i < declared.size(); ++i) {
    if (problem[i].empty())
      ds.items_.push_back(std::move(declared[i].triplet));
    else
      ds.report_.problems.push_back({declared[i].triplet.origin, problem[i], !remote[i]});
  }
  ds.report_.kept = ds.items_.size();

  if (!ds.report_.problems.empty() && !options.skip_bad)
    throw_error("dataset ", path, ": ", ds.report_.problems.size(), " bad ",
                ds.report_.problems.size() == 1 ? "entry" : "entries", " of ", ds.report_.declared,
                ": ", format_problems(ds.report_.problems, 5),
                " (fix them, or pass --skip-bad to train on the ", ds.report_.kept, " good ones)");
  if (ds.items_.empty())
    throw_error("dataset ", path, ": no usable triplets (", ds.report_.declared, " declared",
                ds.report_.problems.empty() ? "" : ", all bad: ",
                format_problems(ds.report_.problems, 3), ")");
  return ds;
}

std::pair<EditDataset, EditDataset> EditDataset::split(double heldout_fraction, uint64_t seed,
                                                       size_t max_heldout) const {
  if (!(heldout_fraction >= 0.0 && heldout_fraction < 1.0))
    throw_error("held-out fraction must be in [0, 1), got ", heldout_fraction);
  const int64_t n = static_cast<int64_t>(items_.size());
  int64_t k = static_cast<int64_t>(std::llround(heldout_fraction * static_cast<double>(n)));
  if (heldout_fraction > 0 && n >= 2) k = std::max<int64_t>(k, 1);
  k = std::min<int64_t>(k, std::max<int64_t>(n - 1, 0));
  const int64_t cap = max_heldout > 0 ? static_cast<int64_t>(max_heldout) : n;
  k = std::min(k, cap);
  // Groups in order of first appearance (an item without a group is its own), so that with
  // singleton groups the draw is the permutation of the items.
  std::vector<std::vector<size_t>> groups;
  std::map<std::string, size_t> group_of;
  for (int64_t i = 0; i < n; ++i) {
    const std::string& g = items_[static_cast<size_t>(i)].group;
    if (g.empty()) {
      groups.push_back({static_cast<size_t>(i)});
      continue;
    }
    auto [it, fresh] = group_of.emplace(g, groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(static_cast<size_t>(i));
  }
  const std::vector<int64_t> perm =
      det_permutation(static_cast<int64_t>(groups.size()), hash_key({seed, 0x5b117ULL}));
  // Whole groups in the drawn order, each only if it still fits in k: a large group never makes
  // the held-out part bigger than asked (it may end a little smaller). When no group fits at all
  // (every group larger than k), the smallest one is held out instead, within cap and n - 1.
  std::vector<bool> held(static_cast<size_t>(n), false);
  int64_t count = 0;
  for (size_t j = 0; j < perm.size() && count < k; ++j) {
    const std::vector<size_t>& g = groups[static_cast<size_t>(perm[j])];
    const int64_t size = static_cast<int64_t>(g.size());
    if (count + size > k) continue;
    for (size_t i : g) held[i] = true;
    count += size;
  }
  if (count == 0 && k > 0) {
    const std::vector<size_t>* smallest = nullptr;
    for (int64_t j : perm) {
      const std::vector<size_t>& g = groups[static_cast<size_t>(j)];
      const int64_t size = static_cast<int64_t>(g.size());
      if (size > cap || size >= n) continue;
      if (!smallest || g.size() < smallest->size()) smallest = &g;
    }
    if (smallest)
      for (size_t i : *smallest) held[i] = true;
  }
  std::vector<size_t> a, b;
  for (int64_t i = 0; i < n; ++i) (held[static_cast<size_t>(i)] ? b : a).push_back(i);
  return {subset(a), subset(b)};
}

EditDataset EditDataset::subset(const std::vector<size_t>& indices) const {
  std::vector<EditTriplet> v;
  v.reserve(indices.size());
  for (size_t i : indices) v.push_back(items_.at(i));
  EditDataset ds(std::move(v), origin_);
  ds.report_.format = report_.format;
  return ds;
}

}  // namespace editclip
