// Minimal command-line parsing for the companion CLI: `--name value`, `--flag`, positionals.
// Unknown options are errors, so a typo never silently falls back to a default.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace editclip::cli {

class Args {
 public:
  // `flags` are options without a value; every other `--name` takes the next argument.
  Args(int argc, char** argv, int first, const std::set<std::string>& options,
       const std::set<std::string>& flags);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = "") const;
  std::string require(const std::string& name, const std::string& what) const;
  int get_int(const std::string& name, int fallback) const;
  // The same, refusing values outside [min, max] with an error naming the option.
  int get_int(const std::string& name, int fallback, int min, int max) const;
  // Every floating-point option goes through here: NaN and infinities are refused, so no option
  // can smuggle them into a computation.
  double get_double(const std::string& name, double fallback) const;
  uint64_t get_u64(const std::string& name, uint64_t fallback) const;
  std::vector<std::string> get_all(const std::string& name) const;  // repeated options
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace editclip::cli
