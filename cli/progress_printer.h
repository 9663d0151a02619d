// Progress on stderr for anything that takes over a second: a live line on a terminal, a line
// every few seconds otherwise (logs stay readable).
#pragma once

#include <chrono>
#include <string>

#include "engine/pipelines/progress.h"

namespace editclip::cli {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet = false);
  bool operator()(const Progress& p);
  ProgressCallback callback();
  void finish();

 private:
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_, stage_start_, last_print_;
  std::string stage_;
  bool printed_ = false;
};

}  // namespace editclip::cli
