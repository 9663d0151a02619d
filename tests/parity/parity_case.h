// One reference case of a fixtures set (see tests/fixtures/README.md): its case.json, inputs
// and expected tensors, and the comparison rule. Kind handlers produce tensors and hand them to
// check(); the runner turns the record into PASS/FAIL.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "engine/io/safetensors_reader.h"

namespace editclip::parity {

struct Tolerance {
  double atol = 0, rtol = 0;
};

class ParityCase {
 public:
  ParityCase(std::filesystem::path dir, std::filesystem::path root);

  const std::string& name() const { return name_; }
  std::string kind() const { return spec_.value("kind", ""); }
  const nlohmann::json& spec() const { return spec_; }
  const nlohmann::json& params() const;
  const std::filesystem::path& dir() const { return dir_; }
  // Folder of the model playing `role` (case.json "models"), resolved from the case folder, else
  // from the fixtures root.
  std::filesystem::path model_dir(const std::string& role) const;
  bool has_model(const std::string& role) const;
  // `preferred` when the case names that role, else its first role (cases with one folder).
  std::filesystem::path model_dir_or_first(const std::string& preferred) const;
  // The model folder holding diffusers component `sub` (e.g. "unet"), whatever role names it.
  std::filesystem::path component_dir(const std::string& sub) const;

  bool has_input(const std::string& name) const;
  at::Tensor input(const std::string& name) const;
  bool has_expected(const std::string& name) const;
  at::Tensor expected(const std::string& name) const;
  std::vector<std::string> expected_names() const;
  std::vector<std::string> input_names() const;

  Tolerance tolerance(const std::string& name) const;
  // Compares `actual` with expected tensor `name` (shape exact; |a-e| <= atol + rtol*|e|).
  void check(const std::string& name, const at::Tensor& actual);
  // Checks every expected tensor whose name is a key of `produced`.
  void check_all(const std::map<std::string, at::Tensor>& produced);

  // Results.
  const std::vector<std::string>& failures() const { return failures_; }
  const std::set<std::string>& checked() const { return checked_; }
  double max_abs_error() const { return max_abs_error_; }
  void fail(const std::string& why) { failures_.push_back(why); }
  std::vector<std::string> report_lines() const { return details_; }

 private:
  std::filesystem::path dir_, root_;
  std::string name_;
  nlohmann::json spec_;
  std::unique_ptr<SafetensorsReader> inputs_, expected_;
  std::vector<std::string> failures_, details_;
  std::set<std::string> checked_;
  double max_abs_error_ = 0;
};

using KindHandler = std::function<void(ParityCase&)>;

// Handlers register themselves by kind from their own translation unit.
std::map<std::string, KindHandler>& kind_registry();
struct KindRegistrar {
  KindRegistrar(const std::string& kind, KindHandler handler) {
    kind_registry()[kind] = std::move(handler);
  }
};

// Tensors whose names match `prefix` + integer + `suffix`, as a sorted list of integers; lets
// handlers follow however many samples/steps a case has.
std::vector<int> indexed_names(const ParityCase& c, const std::string& prefix,
                               const std::string& suffix = "");

}  // namespace editclip::parity

#define EDITCLIP_PARITY_CONCAT2(a, b) a##b
#define EDITCLIP_PARITY_CONCAT(a, b) EDITCLIP_PARITY_CONCAT2(a, b)
#define EDITCLIP_PARITY_KIND(kind, fn)                                                             \
  static ::editclip::parity::KindRegistrar EDITCLIP_PARITY_CONCAT(kind_registrar_, __LINE__)(kind, \
                                                                                             fn)
