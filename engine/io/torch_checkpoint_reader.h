// Reads a PyTorch zip checkpoint (torch.save with the default zipfile format) that holds a
// plain state dict: {name: tensor}. Only the pickle opcodes such a file uses are accepted
// (OrderedDict, torch._utils._rebuild_tensor_v2, storage persistent ids); anything else is
// refused, so no arbitrary object is ever constructed. No Python is needed.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>

namespace editclip {

std::map<std::string, at::Tensor> read_torch_checkpoint(const std::string& path);

}  // namespace editclip
