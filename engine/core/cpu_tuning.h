// CPU-specific process set-up that must happen before LibTorch's math libraries start.
//
// Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to SSE3 kernels
// (about 10x slower sgemm) unless OPENBLAS_CORETYPE is set, and it reads that variable once, when
// the library is loaded. ATen's OpenMP threads busy-wait between parallel regions and steal the
// cores from OpenBLAS's own threads during every matrix product unless OMP_WAIT_POLICY=PASSIVE,
// which libgomp also reads only when it loads. LibTorch 1.13 uses its AVX2 kernels unless
// ATEN_CPU_CAPABILITY=avx512, which it reads lazily at its first vectorised op. Users should not
// have to know any of this, so a front end calls one of the functions below first thing.
//
// This file depends on the C library only (no LibTorch), so a front end that dlopen()s the engine
// later (the GIMP plug-in) can compile it into itself and call it before loading the engine.
// Values the user has set are never changed; EDITCLIP_NO_CPU_TUNING=1 disables all of it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace editclip {

// What the processor and the OS support (cpuid + xgetbv, so AVX-512 state the kernel does not
// save counts as absent). All false on non-x86 builds.
struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512 = false;       // avx512f + bw + vl + dq, with the OS saving ZMM state
  bool avx512_bf16 = false;  // bf16 dot products (Cooper Lake, Sapphire Rapids, Zen 4)
  bool amx_bf16 = false;     // AMX tiles with bf16 (Sapphire Rapids), OS-enabled
};
const CpuFeatures& cpu_features();

// The environment variables this machine benefits from that the user has not set:
// {"OMP_WAIT_POLICY", "PASSIVE"} unless OpenBLAS is an OpenMP build, and on AVX-512 CPUs
// {"OPENBLAS_CORETYPE", "SKYLAKEX"}, {"ATEN_CPU_CAPABILITY", "avx512"}. Empty when nothing
// applies or EDITCLIP_NO_CPU_TUNING is set. A user's OMP_WAIT_POLICY, GOMP_SPINCOUNT or
// KMP_BLOCKTIME counts as a choice of waiting policy.
std::vector<std::pair<std::string, std::string>> recommended_cpu_env();

// First line of main() of an executable linked against LibTorch: if a variable that is read when
// the math libraries load is missing, sets the recommended variables and re-executes
// /proc/self/exe with the same argv (once: a marker variable prevents loops). Does not return
// when it re-executes; returns false when nothing was needed or exec failed (the process then
// simply continues untuned). argv must be main's (NULL-terminated).
bool maybe_reexec_with_cpu_tuning(int argc, char** argv);

// For a host process that loads the engine (and LibTorch) later with dlopen(): sets the
// recommended variables with setenv. Returns true when they can still take effect, false when
// OpenBLAS is already loaded (then OPENBLAS_CORETYPE is too late; ATEN_CPU_CAPABILITY may still
// work if no ATen op has run yet).
bool apply_cpu_env_before_torch_loads();

// Sets ATEN_CPU_CAPABILITY=avx512 when the CPU supports it and the user has not set the
// variable. Effective only before the first vectorised ATen op of the process; idempotent.
void configure_cpu();

// One line for logs and benchmarks: features, the OpenBLAS core in use (if loaded) and the
// tuning variables in effect.
std::string cpu_tuning_summary();

// The kernel family OpenBLAS chose (e.g. "Haswell", "SkylakeX", "Prescott"), or "" when OpenBLAS
// is not loaded in this process.
std::string openblas_core_name();

}  // namespace editclip
