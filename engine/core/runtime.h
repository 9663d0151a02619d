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

// Makes ATen run its CPU ops serially on the calling thread; for helper threads that work next to
// the main computation (data-loader workers). Without it each such thread that reaches a parallel
// ATen op opens its own OpenMP team of all cores, so W workers oversubscribe the machine W-fold
// (PyTorch's DataLoader sets one thread in its workers for the same reason). Only this thread
// changes: the OpenMP limit is per thread, and at::set_num_threads is avoided because it also
// sets the count that every thread starting later inherits. No effect without OpenMP.
void use_serial_ops_on_this_thread();

// Torch's CPU generator seeded like torch.Generator('cpu').manual_seed(seed): the same seed and the
// same sequence of randn calls give the same numbers as the reference Python code.
at::Generator make_cpu_generator(uint64_t seed);

}  // namespace editclip
