// Process-wide runtime settings: device choice and thread count. LibTorch starts with a single
// intra-op thread on some machines, which costs 1.5-2.5x on every model, so the engine sets it.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace editclip {

enum class DeviceChoice { Auto, Cpu, Cuda };

DeviceChoice parse_device_choice(const std::string& text);  // "auto" | "cpu" | "cuda"/"gpu"
// Auto picks CUDA when this LibTorch build has it and a GPU is present; Cuda without CUDA is an
// error.
at::Device resolve_device(DeviceChoice choice);

enum class WeightPrecision { Float32, Float16, BFloat16 };
WeightPrecision parse_precision(const std::string& text);  // "fp32" | "fp16" | "bf16"
at::ScalarType to_scalar_type(WeightPrecision precision);

// Sets the intra-op thread count (0 = all hardware threads) and, via configure_cpu(), ATen's
// AVX-512 kernels on CPUs that have them. Safe to call more than once.
void configure_threads(int num_threads = 0);

// Torch's CPU generator seeded like torch.Generator('cpu').manual_seed(seed): the same seed and the
// same sequence of randn calls give the same numbers as the reference Python code.
at::Generator make_cpu_generator(uint64_t seed);

}  // namespace editclip
