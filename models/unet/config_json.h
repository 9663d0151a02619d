// Typed access to diffusers config.json fields. diffusers silently accepts anything and fails
// later (or computes something else); here every field is read with its diffusers default, its
// type is checked, and options this engine does not implement are refused up front with a
// message that names the file, the field and the value.
#pragma once

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/error.h"

namespace editclip::config_json {

using nlohmann::json;

inline json read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_error(path, ": cannot open the config file (does the folder hold config.json?)");
  try {
    return json::parse(in);
  } catch (const std::exception& e) {
    throw_error(path, ": not valid JSON (", first_line(e.what()), ")");
  }
}

// A present, non-null field.
inline bool has(const json& j, const std::string& key) {
  auto it = j.find(key);
  return it != j.end() && !it->is_null();
}

[[noreturn]] inline void bad_type(const std::string& origin, const std::string& key, const json& v,
                                  const char* expected) {
  throw_error(origin, ": field '", key, "' = ", v.dump(), " must be ", expected);
}

[[noreturn]] inline void unsupported(const std::string& origin, const std::string& key,
                                     const json& v, const std::string& supported) {
  throw_error(origin, ": field '", key, "' = ", v.dump(), " is not supported (", supported, ")");
}

// Sizes the model needs to be at least 1 (channels, layers, groups, ...).
inline void require_positive(const std::string& origin, const std::string& key, int64_t v) {
  if (v <= 0) throw_error(origin, ": field '", key, "' = ", v, " must be positive");
}

inline int64_t to_int(const std::string& origin, const std::string& key, const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  bad_type(origin, key, v, "an integer");
}

// Absent -> `def`; null is refused for fields whose diffusers value cannot be None.
inline int64_t get_int(const json& j, const std::string& origin, const std::string& key,
                       int64_t def) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  return to_int(origin, key, *it);
}

inline std::optional<int64_t> get_opt_int(const json& j, const std::string& origin,
                                          const std::string& key) {
  if (!has(j, key)) return std::nullopt;
  return to_int(origin, key, j.at(key));
}

inline double get_double(const json& j, const std::string& origin, const std::string& key,
                         double def) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (!it->is_number()) bad_type(origin, key, *it, "a number");
  return it->get<double>();
}

inline std::optional<double> get_opt_double(const json& j, const std::string& origin,
                                            const std::string& key) {
  if (!has(j, key)) return std::nullopt;
  const json& v = j.at(key);
  if (!v.is_number()) bad_type(origin, key, v, "a number or null");
  return v.get<double>();
}

inline bool get_bool(const json& j, const std::string& origin, const std::string& key, bool def) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (!it->is_boolean()) bad_type(origin, key, *it, "true or false");
  return it->get<bool>();
}

inline std::string get_string(const json& j, const std::string& origin, const std::string& key,
                              const std::string& def) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (!it->is_string()) bad_type(origin, key, *it, "a string");
  return it->get<std::string>();
}

inline std::vector<int64_t> get_int_list(const json& j, const std::string& origin,
                                         const std::string& key, std::vector<int64_t> def) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (!it->is_array() || it->empty()) bad_type(origin, key, *it, "a non-empty list of integers");
  std::vector<int64_t> out;
  for (auto& v : *it) {
    if (!v.is_number()) bad_type(origin, key, *it, "a non-empty list of integers");
    out.push_back(to_int(origin, key, v));
  }
  return out;
}

inline std::vector<std::string> get_string_list(const json& j, const std::string& origin,
                                                const std::string& key,
                                                std::vector<std::string> def) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (!it->is_array() || it->empty()) bad_type(origin, key, *it, "a non-empty list of strings");
  std::vector<std::string> out;
  for (auto& v : *it) {
    if (!v.is_string()) bad_type(origin, key, *it, "a non-empty list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// The field may be absent or equal to one of `allowed` (json null included); anything else is an
// option of a model variant that is not implemented.
inline void require_one_of(const json& j, const std::string& origin, const std::string& key,
                           const std::vector<json>& allowed) {
  auto it = j.find(key);
  if (it == j.end()) return;
  for (auto& a : allowed)
    if (*it == a) return;
  std::string list;
  for (size_t i = 0; i < allowed.size(); ++i) list += (i ? " or " : "") + allowed[i].dump();
  unsupported(origin, key, *it, "only " + list + " is implemented");
}

}  // namespace editclip::config_json
