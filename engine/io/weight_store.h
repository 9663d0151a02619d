// A named set of tensors that model definitions bind their parameters from.
//
// Models never read files themselves: they ask the store for each tensor by its release name and
// the shape their config implies. The same binding code therefore serves three purposes:
//  - Load:   tensors come from checkpoints; wrong shapes or missing names are errors;
//  - Check:  nothing is loaded; every problem is recorded (`editclip inspect`);
//  - Random: tensors are created on the fly (full-size benchmarks without weights).
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace editclip {

// How loaded weights are kept: storage dtype (fp32, fp16 or bf16) and device. Floating tensors
// are converted on bind; an fp32 checkpoint bound as fp32 on CPU stays a view of the mapping.
struct WeightOptions {
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

// Activations run in fp32 on CPU whatever the storage dtype (reduced-precision kernels are slow
// there), in the storage dtype on CUDA, and in float64 when the weights are float64 (reference
// checks).
inline at::ScalarType compute_dtype_for(const WeightOptions& options) {
  return options.device.is_cuda() || options.dtype == at::kDouble ? options.dtype : at::kFloat;
}

class WeightStore {
 public:
  enum class Mode { Load, Check, Random };

  struct Problem {
    enum class Kind { Missing, WrongShape, WrongDtype, Unexpected } kind;
    std::string name;
    std::string detail;
  };

  explicit WeightStore(std::string origin, Mode mode = Mode::Load, WeightOptions options = {});

  // Adds every tensor of a safetensors file (memory-mapped) or a torch zip checkpoint.
  void add_safetensors(const std::string& path);
  void add_torch_checkpoint(const std::string& path);
  void add(const std::string& name, at::Tensor tensor, const std::string& source = "");

  Mode mode() const { return mode_; }
  const std::string& origin() const { return origin_; }
  const WeightOptions& options() const { return options_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  std::vector<std::string> names() const;
  // Shape of a checkpoint tensor before binding, for sizes a config leaves open (e.g. the number
  // of ImageProj extra tokens); nullopt when the checkpoints do not hold it.
  std::optional<std::vector<int64_t>> stored_shape(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return std::nullopt;
    return it->second.sizes().vec();
  }
  // Accepts a checkpoint tensor the model does not need (e.g. the int64 `position_ids` buffers of
  // older HF checkpoints) so that require_all_used() does not flag it; true if it was present.
  bool consume_optional(const std::string& name) {
    if (!tensors_.count(name)) return false;
    used_.insert(name);
    return true;
  }

  // Returns the tensor `name`, which must have exactly `shape`. Floating tensors are converted to
  // options().dtype (or `keep_dtype` when given, e.g. fp32 norms) and moved to options().device.
  at::Tensor get(const std::string& name, at::IntArrayRef shape,
                 std::optional<at::ScalarType> keep_dtype = std::nullopt);
  // Same, but a missing tensor yields an undefined tensor instead of an error.
  at::Tensor get_optional(const std::string& name, at::IntArrayRef shape,
                          std::optional<at::ScalarType> keep_dtype = std::nullopt);

  // Names present in the checkpoints that no model asked for.
  std::vector<std::string> unused() const;
  // Check mode: everything found so far, including unexpected tensors.
  std::vector<Problem> problems() const;
  // Load mode: throws if any tensor of the checkpoint was not consumed (a sign that the config
  // does not describe the file, e.g. a different architecture).
  void require_all_used() const;

  // Every tensor handed out so far, by name (the model's parameters, e.g. for training/export).
  const std::map<std::string, at::Tensor>& bound() const { return bound_; }

 private:
  at::Tensor make_random(const std::string& name, at::IntArrayRef shape, at::ScalarType dtype);

  std::string origin_;
  Mode mode_;
  WeightOptions options_;
  std::map<std::string, at::Tensor> tensors_;
  std::map<std::string, std::string> sources_;
  std::map<std::string, at::Tensor> bound_;
  std::set<std::string> used_;
  std::vector<Problem> problems_;
};

std::string shape_string(at::IntArrayRef shape);

}  // namespace editclip
