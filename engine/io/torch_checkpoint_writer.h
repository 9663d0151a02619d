// Writes a plain state dict as a PyTorch zip checkpoint, the format torch.save produces by
// default (e.g. the release's image_proj_model.pt), loadable with torch.load (also with
// weights_only=True) and by read_torch_checkpoint.
//
// Layout: <stem>/data.pkl (pickle protocol 2 of an OrderedDict of
// torch._utils._rebuild_tensor_v2 calls), <stem>/byteorder ("little"), <stem>/data/<i> (one
// storage per tensor, raw little-endian bytes, 64-byte aligned), <stem>/version ("3\n"); entries
// stored uncompressed with CRC-32, as PyTorch's own writer does.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace editclip {

// Tensors are written in the given order as contiguous CPU copies (F32, F64, F16, BF16, I64, I32,
// I16, I8, U8, BOOL). The file appears atomically (temporary name, then rename). Archives over
// 4 GiB are refused (no ZIP64 writer; use safetensors for those).
void write_torch_checkpoint(const std::string& path,
                            const std::vector<std::pair<std::string, at::Tensor>>& tensors);

}  // namespace editclip
