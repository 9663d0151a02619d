// Optional observer of a pipeline's intermediate tensors, keyed by the names the reference
// fixtures use. Tests hook it to compare every stage; in normal runs it is empty and free.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>

namespace editclip {

using TraceFn = std::function<void(const std::string& name, const at::Tensor& value)>;

inline void trace(const TraceFn& fn, const std::string& name, const at::Tensor& value) {
  if (fn) fn(name, value);
}

}  // namespace editclip
