#include "engine/io/weight_store.h"

#include <cmath>
#include <sstream>

#include "engine/core/error.h"
#include "engine/io/safetensors_reader.h"
#include "engine/io/torch_checkpoint_reader.h"

namespace editclip {

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

WeightStore::WeightStore(std::string origin, Mode mode, WeightOptions options)
    : origin_(std::move(origin)), mode_(mode), options_(options) {}

void WeightStore::add_safetensors(const std::string& path) {
  SafetensorsReader reader(path);
  for (auto& [name, tensor] : reader.tensors()) add(name, tensor, path);
}

void WeightStore::add_torch_checkpoint(const std::string& path) {
  for (auto& [name, tensor] : read_torch_checkpoint(path)) add(name, tensor, path);
}

void WeightStore::add(const std::string& name, at::Tensor tensor, const std::string& source) {
  if (tensors_.count(name))
    throw_error(origin_, ": tensor '", name, "' appears twice (", sources_[name], " and ", source,
                ")");
  tensors_[name] = std::move(tensor);
  sources_[name] = source.empty() ? origin_ : source;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

at::Tensor WeightStore::make_random(const std::string& name, at::IntArrayRef shape,
                                    at::ScalarType dtype) {
  auto opts = at::TensorOptions().dtype(dtype).device(options_.device);
  const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
  if (shape.size() <= 1) {
    // 1-D weights are norms/scales (ones), biases and the rest start at zero.
    return (!is_bias && shape.size() == 1 && name.find("weight") != std::string::npos)
               ? at::ones(shape, opts)
               : at::zeros(shape, opts);
  }
  int64_t fan_in = 1;
  for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
  if (name.find("embedding") != std::string::npos) fan_in = shape.back();
  return at::randn(shape, opts).mul_(1.0 / std::sqrt(static_cast<double>(fan_in)));
}

at::Tensor WeightStore::get_optional(const std::string& name, at::IntArrayRef shape,
                                     std::optional<at::ScalarType> keep_dtype) {
  const at::ScalarType want = keep_dtype.value_or(options_.dtype);
  if (mode_ == Mode::Random) {
    auto t = make_random(name, shape, want);
    bound_[name] = t;
    return t;
  }
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return {};
  used_.insert(name);
  const at::Tensor& t = it->second;
  if (t.sizes() != shape) {
    const std::string detail =
        concat("expected shape ", shape_string(shape), ", file has ", shape_string(t.sizes()));
    if (mode_ == Mode::Check) {
      problems_.push_back({Problem::Kind::WrongShape, name, detail});
      return at::empty(shape, at::TensorOptions().dtype(want).device(at::kMeta));
    }
    throw_error(sources_.at(name), ": tensor '", name, "': ", detail,
                " (the config does not match the weights; check that both come from the same "
                "model)");
  }
  if (!at::isFloatingType(t.scalar_type())) {
    const std::string detail =
        concat("expected a floating-point tensor, file has ", c10::toString(t.scalar_type()));
    if (mode_ == Mode::Check) {
      problems_.push_back({Problem::Kind::WrongDtype, name, detail});
      return at::empty(shape, at::TensorOptions().dtype(want).device(at::kMeta));
    }
    throw_error(sources_.at(name), ": tensor '", name, "': ", detail);
  }
  at::Tensor out = t;
  if (mode_ != Mode::Check) {
    if (out.scalar_type() != want || out.device() != options_.device)
      out = out.to(options_.device, want);
    bound_[name] = out;
  }
  return out;
}

at::Tensor WeightStore::get(const std::string& name, at::IntArrayRef shape,
                            std::optional<at::ScalarType> keep_dtype) {
  at::Tensor t = get_optional(name, shape, keep_dtype);
  if (t.defined()) return t;
  if (mode_ == Mode::Check) {
    problems_.push_back({Problem::Kind::Missing, name, concat("expected ", shape_string(shape))});
    return at::empty(
        shape, at::TensorOptions().dtype(keep_dtype.value_or(options_.dtype)).device(at::kMeta));
  }
  throw_error(origin_, ": tensor '", name, "' (", shape_string(shape),
              ") is missing; the weights are incomplete or for a different model "
              "(run `editclip inspect` on the folder)");
}

std::vector<std::string> WeightStore::unused() const {
  std::vector<std::string> out;
  for (auto& kv : tensors_)
    if (!used_.count(kv.first)) out.push_back(kv.first);
  return out;
}

std::vector<WeightStore::Problem> WeightStore::problems() const {
  auto out = problems_;
  for (auto& name : unused())
    out.push_back(
        {Problem::Kind::Unexpected, name,
         concat("not used by the model, shape ", shape_string(tensors_.at(name).sizes()))});
  return out;
}

void WeightStore::require_all_used() const {
  auto extra = unused();
  if (extra.empty()) return;
  std::string list;
  for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", " : "") + extra[i];
  if (extra.size() > 5) list += concat(", ... (", extra.size(), " in all)");
  throw_error(origin_, ": the checkpoint has tensors the config does not describe: ", list,
              " (config and weights disagree; run `editclip inspect` on the folder)");
}

}  // namespace editclip
