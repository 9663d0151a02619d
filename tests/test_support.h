// Helpers shared by the GoogleTest suites (unit and CLI tests).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/error.h"

namespace editclip::test {

// A fresh folder per test (named after it), removed afterwards.
struct TempDir {
  std::filesystem::path path;
  TempDir() : TempDir(current_test_name()) {}
  // Named `name` instead, e.g. for a folder a whole suite shares (no test runs in SetUpTestSuite).
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             concat("editclip_test_", ::getpid(), "_", name)) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::filesystem::path operator/(const std::string& name) const { return path / name; }

 private:
  static std::string current_test_name() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return info ? concat(info->test_suite_name(), "_", info->name()) : "x_x";
  }
};

// Changes environment variables for one scope; when it ends, each one changed (or save()d) gets
// back the value it had before, or is removed again if it had none.
class ScopedEnv {
 public:
  ScopedEnv() = default;
  // Sets `name` to `value`, or removes it for std::nullopt.
  ScopedEnv(const std::string& name, const std::optional<std::string>& value) { set(name, value); }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second)
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        ::unsetenv(it->first.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

  void set(const std::string& name, const std::optional<std::string>& value) {
    save(name);
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
  void unset(const std::string& name) { set(name, std::nullopt); }
  // Restores `name` at the end without changing it now (for code that sets it directly).
  void save(const std::string& name) {
    for (const auto& [n, v] : saved_)
      if (n == name) return;
    const char* v = std::getenv(name.c_str());
    saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Message of the editclip::Error `f` throws ("" if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A finished shell command: its exit status (-1 when killed by a signal) and what it printed.
struct CommandResult {
  int status = -1;
  std::string output;
};

// Reads a popen()ed command to its end and closes it. Two commands may be started with popen
// first and finished afterwards (both run meanwhile).
inline CommandResult finish_command(FILE* pipe) {
  CommandResult r;
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

// Runs `command` with /bin/sh; `output` is what it writes to stdout (add 2>&1 for stderr too).
inline CommandResult run_command(const std::string& command) {
  return finish_command(popen(command.c_str(), "r"));
}

// Single-quoted for /bin/sh (paths of the tests hold no single quote).
inline std::string shell_quoted(const std::filesystem::path& p) {
  return "'" + p.string() + "'";
}

}  // namespace editclip::test
