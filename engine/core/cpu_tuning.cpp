#include "engine/core/cpu_tuning.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define EDITCLIP_X86 1
#endif

namespace editclip {
namespace {

// Set in the re-executed process so that a second exec can never happen, even if a variable
// could not be set.
constexpr const char* kReexecMarker = "EDITCLIP_CPU_TUNED";

#if defined(EDITCLIP_X86)
uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  // xgetbv is only legal when the OS set CR4.OSXSAVE; the caller checked cpuid.1:ECX[27].
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(EDITCLIP_X86)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;                    // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;                  // + opmask, ZMM_Hi256, Hi16_ZMM
  const bool amx_state = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG + XTILEDATA
  if (!ymm_state) return f;
  f.fma = fma;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned sub_leaves = a;
  f.avx2 = b & (1u << 5);
  const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
             avx512vl = b & (1u << 31);
  f.avx512 = zmm_state && avx512f && avx512dq && avx512bw && avx512vl;
  // Linux additionally requires a process to request AMX state (arch_prctl); oneDNN does that
  // itself, so the XCR0 bits are the OS-support test here.
  f.amx_bf16 = amx_state && (d & (1u << 22)) && (d & (1u << 24));
  if (sub_leaves >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = f.avx512 && (a & (1u << 5));
  }
#endif
  return f;
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

bool tuning_disabled() {
  const char* v = std::getenv("EDITCLIP_NO_CPU_TUNING");
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

// 0: OpenBLAS not loaded (yet); 1: its own pthread pool (Debian's libopenblas0-pthread);
// 2: OpenMP build (shares ATen's threads).
int openblas_threading() {
  using Fn = int (*)();
  auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  return fn ? fn() : 0;
}

std::vector<std::pair<std::string, std::string>> recommended_cpu_env() {
  std::vector<std::pair<std::string, std::string>> out;
  if (tuning_disabled()) return out;
  const CpuFeatures& f = cpu_features();
  // ATen's OpenMP workers busy-wait (libgomp: ~300k spins) after every parallel region, while
  // OpenBLAS runs each matrix product on its own pthread pool: during every GEMM the idle OpenMP
  // workers take the cores the BLAS threads need. Measured on a 2-core machine: a UNet step
  // 20-25% faster with passive waiting, up to 2.5x when other processes load the machine.
  // Unknown threading (OpenBLAS loaded later, by dlopen) gets it too: the cost of passive
  // waiting is a few microseconds per parallel region.
  const bool user_set_waiting =
      env_set("OMP_WAIT_POLICY") || env_set("GOMP_SPINCOUNT") || env_set("KMP_BLOCKTIME");
  if (!user_set_waiting && openblas_threading() != 2)
    out.emplace_back("OMP_WAIT_POLICY", "PASSIVE");
  if (f.avx512) {
    // OpenBLAS 0.3.21's SkylakeX kernels run on any CPU with these four AVX-512 subsets; without
    // the hint it picks SSE3 kernels on CPUs newer than the library (Ice Lake servers and later).
    if (!env_set("OPENBLAS_CORETYPE")) out.emplace_back("OPENBLAS_CORETYPE", "SKYLAKEX");
    if (!env_set("ATEN_CPU_CAPABILITY")) out.emplace_back("ATEN_CPU_CAPABILITY", "avx512");
  }
  return out;
}

bool maybe_reexec_with_cpu_tuning(int argc, char** argv) {
  (void)argc;
  if (env_set(kReexecMarker)) return false;
  const auto env = recommended_cpu_env();
  bool needs_exec = false;
  for (const auto& [name, value] : env) {
    ::setenv(name.c_str(), value.c_str(), /*overwrite=*/0);
    // Only variables read at library load time (OpenBLAS, libgomp) need a fresh process;
    // ATEN_CPU_CAPABILITY is read lazily and works with setenv alone.
    if (name != "ATEN_CPU_CAPABILITY") needs_exec = true;
  }
  if (!needs_exec || !argv || !argv[0]) return false;
  ::setenv(kReexecMarker, "1", 1);
  ::execv("/proc/self/exe", argv);
  // exec failed (no /proc, binary replaced): carry on untuned rather than fail.
  return false;
}

bool apply_cpu_env_before_torch_loads() {
  for (const auto& [name, value] : recommended_cpu_env())
    ::setenv(name.c_str(), value.c_str(), /*overwrite=*/0);
  void* handle = ::dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_NOLOAD);
  if (handle) {
    ::dlclose(handle);
    return false;
  }
  return true;
}

void configure_cpu() {
  for (const auto& [name, value] : recommended_cpu_env())
    if (name == "ATEN_CPU_CAPABILITY") ::setenv(name.c_str(), value.c_str(), /*overwrite=*/0);
}

std::string openblas_core_name() {
  using Fn = char* (*)();
  auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!fn) return "";
  const char* name = fn();
  return name ? name : "";
}

std::string cpu_tuning_summary() {
  const CpuFeatures& f = cpu_features();
  std::string s = "cpu:";
  s += f.avx512 ? " avx512" : (f.avx2 ? " avx2" : " no-avx2");
  if (f.avx512_bf16) s += " avx512_bf16";
  if (f.amx_bf16) s += " amx_bf16";
  const std::string core = openblas_core_name();
  s += "; openblas core: " + (core.empty() ? std::string("(not loaded)") : core);
  for (const char* name : {"OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "OMP_WAIT_POLICY"}) {
    const char* v = std::getenv(name);
    if (v && *v) s += std::string("; ") + name + "=" + v;
  }
  if (env_set(kReexecMarker)) s += " (re-executed)";
  return s;
}

}  // namespace editclip
