#include "engine/core/runtime.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <thread>

#include "engine/core/cpu_tuning.h"
#include "engine/core/error.h"
#include "engine/core/torch_compat.h"

namespace editclip {

DeviceChoice parse_device_choice(const std::string& text) {
  if (text == "auto") return DeviceChoice::Auto;
  if (text == "cpu") return DeviceChoice::Cpu;
  if (text == "cuda" || text == "gpu") return DeviceChoice::Cuda;
  throw_error("--device '", text, "': expected auto, cpu or cuda");
}

at::Device resolve_device(DeviceChoice choice) {
  const bool cuda = compat::cuda_available();
  switch (choice) {
    case DeviceChoice::Cpu:
      return at::kCPU;
    case DeviceChoice::Cuda:
      if (!cuda)
        throw_error(
            "--device cuda: this LibTorch build has no CUDA or no GPU is visible; use "
            "--device cpu, or build against a CUDA LibTorch (-DCMAKE_PREFIX_PATH)");
      return at::Device(at::kCUDA, 0);
    case DeviceChoice::Auto:
    default:
      return cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  }
}

WeightPrecision parse_precision(const std::string& text) {
  if (text == "fp32" || text == "float32") return WeightPrecision::Float32;
  if (text == "fp16" || text == "float16" || text == "half") return WeightPrecision::Float16;
  if (text == "bf16" || text == "bfloat16") return WeightPrecision::BFloat16;
  throw_error("--precision '", text, "': expected fp32, fp16 or bf16");
}

at::ScalarType to_scalar_type(WeightPrecision precision) {
  switch (precision) {
    case WeightPrecision::Float16:
      return at::kHalf;
    case WeightPrecision::BFloat16:
      return at::kBFloat16;
    case WeightPrecision::Float32:
    default:
      return at::kFloat;
  }
}

void configure_threads(int num_threads) {
  // AVX-512 kernels for ATen where the CPU has them; effective when this runs before the first
  // ATen op (the capability is read once, lazily).
  configure_cpu();
  int n = num_threads > 0 ? num_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

void use_serial_ops_on_this_thread() {
  // ATen sets a thread's OpenMP limit from its global count the first time the thread reaches
  // an op; do that now so that it cannot undo the limit set below.
  at::get_num_threads();
  // The OpenMP runtime LibTorch was loaded with (Debian's libgomp, or the copy bundled with
  // PyTorch's wheels under another file name), looked up by symbol so that this library neither
  // links a second OpenMP runtime nor needs OpenMP flags.
  using SetNumThreads = void (*)(int);
  static const auto set =
      reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set) set(1);
}

at::Generator make_cpu_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

}  // namespace editclip
