#include "tests/parity/parity_case.h"

#include <fstream>
#include <regex>
#include <sstream>

#include "engine/core/error.h"
#include "engine/io/weight_store.h"  // shape_string

namespace fs = std::filesystem;

namespace editclip::parity {

std::map<std::string, KindHandler>& kind_registry() {
  static std::map<std::string, KindHandler> registry;
  return registry;
}

ParityCase::ParityCase(fs::path dir, fs::path root) : dir_(std::move(dir)), root_(std::move(root)) {
  name_ = dir_.filename().string();
  std::ifstream in(dir_ / "case.json");
  if (!in) throw_error(dir_ / "case.json", ": cannot open");
  try {
    spec_ = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw_error(dir_ / "case.json", ": invalid JSON: ", e.what());
  }
  if (spec_.contains("name") && spec_["name"].is_string()) name_ = spec_["name"];
  if (fs::exists(dir_ / "inputs.safetensors"))
    inputs_ = std::make_unique<SafetensorsReader>((dir_ / "inputs.safetensors").string());
  if (fs::exists(dir_ / "expected.safetensors"))
    expected_ = std::make_unique<SafetensorsReader>((dir_ / "expected.safetensors").string());
}

const nlohmann::json& ParityCase::params() const {
  static const nlohmann::json empty = nlohmann::json::object();
  auto it = spec_.find("params");
  return it == spec_.end() ? empty : *it;
}

bool ParityCase::has_model(const std::string& role) const {
  return spec_.contains("models") && spec_["models"].contains(role);
}

fs::path ParityCase::model_dir(const std::string& role) const {
  if (!has_model(role)) throw_error(name_, ": case.json names no model for role '", role, "'");
  const auto& m = spec_["models"][role];
  if (m.contains("path_from_case")) {
    fs::path p = dir_ / m["path_from_case"].get<std::string>();
    if (fs::exists(p)) return fs::weakly_canonical(p);
  }
  if (m.contains("path_from_fixtures_root")) {
    fs::path p = root_ / m["path_from_fixtures_root"].get<std::string>();
    if (fs::exists(p)) return fs::weakly_canonical(p);
  }
  throw_error(name_, ": model folder for role '", role, "' not found");
}

fs::path ParityCase::model_dir_or_first(const std::string& preferred) const {
  if (has_model(preferred)) return model_dir(preferred);
  const auto models = spec_.value("models", nlohmann::json::object());
  if (!models.is_object() || models.empty())
    throw_error(name_, ": case.json names no model folder");
  return model_dir(models.begin().key());
}

fs::path ParityCase::component_dir(const std::string& sub) const {
  if (spec_.contains("models"))
    for (auto& [role, unused] : spec_.at("models").items()) {
      (void)unused;
      fs::path d = model_dir(role);
      if (fs::exists(d / sub / "config.json")) return d / sub;
      if (d.filename() == sub && fs::exists(d / "config.json")) return d;
    }
  throw_error(name_, ": no model folder with a ", sub, "/ component in case.json \"models\"");
}

bool ParityCase::has_input(const std::string& name) const {
  return inputs_ && inputs_->contains(name);
}
at::Tensor ParityCase::input(const std::string& name) const {
  if (!has_input(name)) throw_error(name_, ": input tensor '", name, "' missing");
  return inputs_->tensor(name).clone();
}
bool ParityCase::has_expected(const std::string& name) const {
  return expected_ && expected_->contains(name);
}
at::Tensor ParityCase::expected(const std::string& name) const {
  if (!has_expected(name)) throw_error(name_, ": expected tensor '", name, "' missing");
  return expected_->tensor(name).clone();
}
std::vector<std::string> ParityCase::expected_names() const {
  return expected_ ? expected_->names() : std::vector<std::string>{};
}
std::vector<std::string> ParityCase::input_names() const {
  return inputs_ ? inputs_->names() : std::vector<std::string>{};
}

Tolerance ParityCase::tolerance(const std::string& name) const {
  Tolerance tol;
  auto read = [&](const nlohmann::json& j) {
    if (j.contains("atol")) tol.atol = j["atol"].get<double>();
    if (j.contains("rtol")) tol.rtol = j["rtol"].get<double>();
  };
  if (spec_.contains("tolerance")) read(spec_["tolerance"]);
  if (spec_.contains("tensor_tolerances") && spec_["tensor_tolerances"].contains(name))
    read(spec_["tensor_tolerances"][name]);
  if (spec_.contains("expected") && spec_["expected"].contains(name) &&
      spec_["expected"][name].is_object() && spec_["expected"][name].contains("tolerance"))
    read(spec_["expected"][name]["tolerance"]);
  return tol;
}

void ParityCase::check(const std::string& name, const at::Tensor& actual_in) {
  if (!has_expected(name)) {
    fail(concat(name, ": no such expected tensor"));
    return;
  }
  checked_.insert(name);
  at::Tensor expected_t = expected_->tensor(name).to(at::kDouble);
  if (!actual_in.defined()) {
    fail(concat(name, ": not produced"));
    return;
  }
  at::Tensor actual = actual_in.detach().to(at::kCPU).to(at::kDouble);
  if (actual.sizes() != expected_t.sizes()) {
    fail(concat(name, ": shape ", shape_string(actual.sizes()), " != expected ",
                shape_string(expected_t.sizes())));
    return;
  }
  Tolerance tol = tolerance(name);
  at::Tensor diff = (actual - expected_t).abs();
  at::Tensor allowed = expected_t.abs() * tol.rtol + tol.atol;
  at::Tensor bad = (diff > allowed).logical_or(actual.isnan() != expected_t.isnan());
  double max_err = diff.numel() ? at::nan_to_num(diff, 0).max().item<double>() : 0.0;
  max_abs_error_ = std::max(max_abs_error_, max_err);
  int64_t nbad = bad.sum().item<int64_t>();
  std::ostringstream line;
  line << "  " << name << " max_abs_err=" << max_err << " atol=" << tol.atol
       << " rtol=" << tol.rtol;
  if (nbad) {
    int64_t flat = bad.flatten().nonzero()[0].item<int64_t>();
    line << " BAD " << nbad << "/" << diff.numel() << " first at flat index " << flat << " (actual "
         << actual.flatten()[flat].item<double>() << ", expected "
         << expected_t.flatten()[flat].item<double>() << ")";
    fail(concat(name, ": ", nbad, " of ", diff.numel(), " elements out of tolerance, max abs err ",
                max_err, " (atol ", tol.atol, ", rtol ", tol.rtol, ")"));
  }
  details_.push_back(line.str());
}

void ParityCase::check_all(const std::map<std::string, at::Tensor>& produced) {
  for (auto& [name, t] : produced)
    if (has_expected(name)) check(name, t);
}

std::vector<int> indexed_names(const ParityCase& c, const std::string& prefix,
                               const std::string& suffix) {
  std::vector<int> out;
  std::set<std::string> all;
  for (auto& n : c.expected_names()) all.insert(n);
  for (auto& n : c.input_names()) all.insert(n);
  for (auto& n : all) {
    if (n.size() <= prefix.size() + suffix.size()) continue;
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    if (n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    std::string mid = n.substr(prefix.size(), n.size() - prefix.size() - suffix.size());
    if (mid.empty() || mid.find_first_not_of("0123456789") != std::string::npos) continue;
    out.push_back(std::stoi(mid));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace editclip::parity
