#include "cli/args.h"

#include <cmath>
#include <limits>

#include "engine/core/error.h"

namespace editclip::cli {

Args::Args(int argc, char** argv, int first, const std::set<std::string>& options,
           const std::set<std::string>& flags) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      std::string name = a.substr(2), value;
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (flags.count(name)) {
        values_.emplace(name, "1");
      } else if (options.count(name)) {
        if (eq == std::string::npos) {
          if (i + 1 >= argc) throw_error("option --", name, " needs a value");
          value = argv[++i];
        }
        values_.emplace(name, value);
      } else {
        throw_error("unknown option --", name, " (see --help)");
      }
    } else {
      positional_.push_back(a);
    }
  }
}

bool Args::has(const std::string& name) const {
  return values_.count(name) != 0;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return fallback;
  return std::prev(range.second)->second;  // the last one wins
}

std::string Args::require(const std::string& name, const std::string& what) const {
  if (!has(name)) throw_error("missing --", name, " ", what);
  return get(name);
}

int Args::get_int(const std::string& name, int fallback) const {
  if (!has(name)) return fallback;
  const std::string v = get(name);
  try {
    size_t used = 0;
    int out = std::stoi(v, &used);
    if (used == v.size()) return out;
  } catch (...) {
  }
  throw_error("--", name, " '", v, "': expected an integer");
}

int Args::get_int(const std::string& name, int fallback, int min, int max) const {
  const int v = get_int(name, fallback);
  if (v < min || v > max) {
    if (max == std::numeric_limits<int>::max())
      throw_error("--", name, " ", v, ": must be at least ", min);
    throw_error("--", name, " ", v, ": must be between ", min, " and ", max);
  }
  return v;
}

uint64_t Args::get_u64(const std::string& name, uint64_t fallback) const {
  if (!has(name)) return fallback;
  const std::string v = get(name);
  try {
    size_t used = 0;
    if (!v.empty() && v[0] != '-') {
      uint64_t out = std::stoull(v, &used);
      if (used == v.size()) return out;
    }
  } catch (...) {
  }
  throw_error("--", name, " '", v, "': expected a non-negative integer");
}

double Args::get_double(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  const std::string v = get(name);
  try {
    size_t used = 0;
    const double out = std::stod(v, &used);
    if (used == v.size()) {
      if (!std::isfinite(out))
        throw_error("--", name, " '", v, "': expected a finite number (not NaN or infinity)");
      return out;
    }
  } catch (const Error&) {
    throw;
  } catch (...) {
  }
  throw_error("--", name, " '", v, "': expected a number");
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

}  // namespace editclip::cli
