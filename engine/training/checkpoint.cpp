#include "engine/training/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/io/safetensors_reader.h"

namespace editclip {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kFormat = "editclip-checkpoint";
constexpr int kVersion = 1;

// Flushes a file or folder to disk so that the rename that publishes it cannot overtake its data.
void sync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return;  // best effort: some filesystems refuse opening folders
  ::fsync(fd);
  ::close(fd);
}

bool parse_step_dir(const std::string& name, int64_t* step) {
  static const std::string prefix = "step-";
  if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size()) return false;
  const std::string digits = name.substr(prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), ::isdigit) || digits.size() > 18) return false;
  *step = std::stoll(digits);
  return true;
}

void check_stem(const std::string& stem) {
  if (stem.empty() || stem == "state" || stem.find_first_of("/\\") != std::string::npos ||
      stem[0] == '.')
    throw_error("checkpoint: \"", stem, "\" cannot name a tensor file");
}

}  // namespace

CheckpointManager::CheckpointManager(std::string run_dir, int keep_last)
    : run_dir_(std::move(run_dir)), keep_last_(keep_last) {}

std::string CheckpointManager::step_dir(int64_t step) const {
  return (fs::path(run_dir_) / concat("step-", step)).string();
}

std::string CheckpointManager::save(const Checkpoint& ckpt) {
  if (ckpt.step < 0) throw_error("checkpoint: negative step ", ckpt.step);
  for (const auto& entry : ckpt.tensors) check_stem(entry.first);
  std::error_code ec;
  fs::create_directories(run_dir_, ec);
  if (ec) throw_error(run_dir_, ": cannot create the run folder (", ec.message(), ")");

  const std::string pid = std::to_string(::getpid());
  const fs::path tmp = fs::path(run_dir_) / concat(".tmp-step-", ckpt.step, "-", pid);
  const fs::path final_dir = step_dir(ckpt.step);
  const fs::path old = fs::path(run_dir_) / concat(".old-step-", ckpt.step, "-", pid);
  fs::remove_all(tmp, ec);
  try {
    fs::create_directory(tmp, ec);
    if (ec) throw_error(tmp.string(), ": cannot create (", ec.message(), ")");
    json files = json::array();
    for (const auto& [stem, tensors] : ckpt.tensors) {
      const fs::path file = tmp / (stem + ".safetensors");
      write_safetensors(file.string(), tensors);
      sync_path(file, false);
      files.push_back(stem);
    }
    json rng = json::object();
    for (const auto& [name, state] : ckpt.rng) rng[name] = bytes_to_hex(state);
    const json state = {{"format", kFormat},           {"version", kVersion},
                        {"step", ckpt.step},           {"epoch", ckpt.epoch},
                        {"data", ckpt.data.to_json()}, {"rng", rng},
                        {"optimizer", ckpt.optimizer}, {"config", ckpt.config},
                        {"extra", ckpt.extra},         {"tensor_files", files}};
    const fs::path state_file = tmp / "state.json";
    {
      std::ofstream out(state_file, std::ios::trunc);
      if (!out) throw_error(state_file.string(), ": cannot write (", std::strerror(errno), ")");
      out << state.dump(1) << '\n';
      out.flush();
      if (!out) throw_error(state_file.string(), ": write failed (disk full?)");
    }
    sync_path(state_file, false);
    sync_path(tmp, true);
    // Publish: an existing checkpoint of the same step is moved aside first and removed after.
    if (fs::exists(final_dir, ec)) {
      fs::remove_all(old, ec);
      fs::rename(final_dir, old, ec);
      if (ec) throw_error(final_dir.string(), ": cannot replace (", ec.message(), ")");
    }
    fs::rename(tmp, final_dir, ec);
    if (ec) {
      std::error_code ec2;
      if (fs::exists(old, ec2)) fs::rename(old, final_dir, ec2);
      throw_error(final_dir.string(), ": cannot move the checkpoint into place (", ec.message(),
                  ")");
    }
    sync_path(run_dir_, true);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::remove_all(old, ec);

  // Leftovers of interrupted saves, then the oldest complete checkpoints beyond keep_last.
  for (const auto& e : fs::directory_iterator(run_dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".tmp-step-", 0) == 0 || name.rfind(".old-step-", 0) == 0) {
      std::error_code ec2;
      fs::remove_all(e.path(), ec2);
    }
  }
  if (keep_last_ > 0) {
    const auto all = list();
    for (size_t i = 0; i + static_cast<size_t>(keep_last_) < all.size(); ++i) {
      if (all[i].first == ckpt.step) continue;
      std::error_code ec2;
      fs::remove_all(all[i].second, ec2);
    }
  }
  return final_dir.string();
}

std::vector<std::pair<int64_t, std::string>> CheckpointManager::list() const {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(run_dir_, ec)) return out;
  for (const auto& e : fs::directory_iterator(run_dir_, ec)) {
    int64_t step = 0;
    if (!e.is_directory() || !parse_step_dir(e.path().filename().string(), &step)) continue;
    if (!fs::exists(e.path() / "state.json")) continue;
    out.emplace_back(step, e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> CheckpointManager::latest() const {
  const auto all = list();
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

Checkpoint CheckpointManager::load(const std::string& dir) {
  const fs::path state_file = fs::path(dir) / "state.json";
  std::ifstream in(state_file);
  if (!in) throw_error(dir, ": not a checkpoint (no state.json; give a step-<N> folder of a run)");
  json state;
  try {
    state = json::parse(in);
  } catch (const json::exception& e) {
    throw_error(state_file.string(), ": not valid JSON (", first_line(e.what()), ")");
  }
  if (!state.is_object() || state.value("format", std::string()) != kFormat)
    throw_error(state_file.string(), ": not an editclip checkpoint state (\"format\" is not \"",
                kFormat, "\")");
  if (state.value("version", 0) > kVersion)
    throw_error(state_file.string(), ": checkpoint version ", state.value("version", 0),
                " is newer than this build reads (", kVersion, ")");
  Checkpoint c;
  try {
    c.step = state.at("step").get<int64_t>();
    c.epoch = state.value("epoch", int64_t{0});
    c.data = LoaderPosition::from_json(state.at("data"));
    const json rng = state.value("rng", json::object());
    for (const auto& [name, hex] : rng.items()) c.rng[name] = hex_to_bytes(hex.get<std::string>());
    c.optimizer = state.value("optimizer", json::object());
    c.config = state.value("config", json::object());
    c.extra = state.value("extra", json::object());
    const json files = state.value("tensor_files", json::array());
    for (const json& stem : files) {
      const std::string s = stem.get<std::string>();
      const fs::path file = fs::path(dir) / (s + ".safetensors");
      if (!fs::exists(file))
        throw_error(file.string(), ": missing (the checkpoint lists it in state.json)");
      c.tensors[s] = SafetensorsReader(file.string()).tensors();
    }
  } catch (const json::exception& e) {
    throw_error(state_file.string(), ": malformed (", first_line(e.what()), ")");
  }
  return c;
}

at::Tensor generator_state(const at::Generator& generator) {
  at::Generator handle = generator;  // same generator; mutex() is not const
  std::lock_guard<std::mutex> lock(handle.mutex());
  return handle.get_state().clone();
}

void set_generator_state(at::Generator& generator, const at::Tensor& state) {
  if (!state.defined() || state.scalar_type() != at::kByte || state.dim() != 1)
    throw_error("random generator state: expected a 1-D uint8 tensor");
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state.contiguous());
}

at::Generator& default_cpu_generator() {
  // getDefaultCPUGenerator returns a reference to the process-wide generator.
  return const_cast<at::Generator&>(at::detail::getDefaultCPUGenerator());
}

std::string bytes_to_hex(const at::Tensor& u8) {
  static const char* digits = "0123456789abcdef";
  const at::Tensor t = u8.to(at::kCPU).contiguous();
  if (t.scalar_type() != at::kByte) throw_error("bytes_to_hex: expected a uint8 tensor");
  const uint8_t* p = t.data_ptr<uint8_t>();
  std::string s(static_cast<size_t>(t.numel()) * 2, '0');
  for (int64_t i = 0; i < t.numel(); ++i) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  return s;
}

at::Tensor hex_to_bytes(const std::string& hex) {
  if (hex.size() % 2) throw_error("hex string of odd length ", hex.size());
  auto val = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw_error("hex string: bad character '", c, "'");
  };
  at::Tensor t = at::empty({static_cast<int64_t>(hex.size() / 2)}, at::kByte);
  uint8_t* p = t.data_ptr<uint8_t>();
  for (size_t i = 0; i < hex.size() / 2; ++i)
    p[i] = static_cast<uint8_t>(val(hex[2 * i]) * 16 + val(hex[2 * i + 1]));
  return t;
}

}  // namespace editclip
