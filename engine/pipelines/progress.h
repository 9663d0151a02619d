// Progress reporting and cancellation shared by every long-running engine call.
#pragma once

#include <functional>
#include <string>

#include "engine/core/error.h"

namespace editclip {

struct Progress {
  std::string stage;  // "encode", "denoise", "decode", ...
  int step = 0;       // steps done in this stage
  int total = 0;      // steps in this stage (0 when unknown)
};

// Called between units of work; returning false cancels the call, which then throws Cancelled
// without having produced anything.
using ProgressCallback = std::function<bool(const Progress&)>;

class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

inline void report(const ProgressCallback& cb, const std::string& stage, int step, int total) {
  if (cb && !cb(Progress{stage, step, total})) throw Cancelled();
}

}  // namespace editclip
