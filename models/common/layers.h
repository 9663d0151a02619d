// Building blocks shared by every network: thin holders of weight tensors bound from a
// WeightStore under their release names, with a functional forward. Keeping models as plain
// tensors (no torch::nn modules) makes weight layouts explicit and lets one binding routine
// serve loading, checking and random initialisation.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <mutex>
#include <string>

#include "engine/io/weight_store.h"

namespace editclip::nn {

// Process-wide compute choices for inference. The default keeps exact fp32 numerics.
struct ComputePolicy {
  // Run CPU matrix products (Linear, attention) of fp32 activations in bf16 through oneDNN, with
  // fp32 results, while convolutions, norms and activations stay fp32. Pays off only on CPUs
  // with AVX512-BF16 or AMX (cpu_has_fast_bf16()): there linear layers run 3-6x and attention
  // 2-2.5x faster; without them LibTorch 1.13 falls back to scalar bf16 kernels, 10-80x SLOWER.
  // Accuracy cost (emulated oneDNN numerics, random-weight SD UNet, 3x256² step): output rms
  // difference 0.003 against an output rms of 0.57, max 0.013.
  bool cpu_matmul_bf16 = false;
  // With cpu_matmul_bf16: round the operands and results of those products to bf16 but multiply
  // in fp32, i.e. oneDNN's bf16 numerics (fp32 accumulation) up to summation order. For
  // measuring the accuracy cost on CPUs whose emulated bf16 GEMM rounds differently; not fast.
  bool emulate_bf16 = false;
};
ComputePolicy compute_policy();
void set_compute_policy(const ComputePolicy& policy);
void set_cpu_matmul_bf16(bool on);
// True when this CPU computes bf16 products natively (AVX512-BF16 or AMX-BF16), i.e. when
// cpu_matmul_bf16 is a speed-up rather than a slow-down.
bool cpu_has_fast_bf16();
// Whether a product with activation `x` runs in bf16 under the current policy.
bool use_bf16_matmul(const at::Tensor& x);

// Attention over [.., T, D] heads (compat::scaled_dot_product_attention) under the policy: in
// bf16 with fp32 output when use_bf16_matmul(q), otherwise in q's dtype.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     bool causal = false);

// Weights may be stored in fp16/bf16 to save memory while activations stay fp32 (CPU) or run in
// the weights' dtype (CUDA half). This casts a weight to the activation dtype when they differ.
at::Tensor match_dtype(const at::Tensor& weight, const at::Tensor& x);

struct Linear {
  at::Tensor weight, bias;  // [out, in], [out] (bias may be undefined)
  void bind(WeightStore& store, const std::string& prefix, int64_t in, int64_t out,
            bool has_bias = true);
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  // bf16 copies of fp32 weights for the bf16 policy, made on first use and shared by copies of
  // this layer; rebuilt when `weight` is replaced or modified in place.
  struct LowPrecisionCache {
    std::mutex mutex;
    const void* source = nullptr;
    const void* bias_source = nullptr;
    int64_t version = -1;
    at::Tensor weight, bias;
  };
  std::shared_ptr<LowPrecisionCache> lp_cache_ = std::make_shared<LowPrecisionCache>();
};

struct Conv2d {
  at::Tensor weight, bias;  // [out, in, k, k], [out]
  int64_t stride = 1, padding = 0;
  void bind(WeightStore& store, const std::string& prefix, int64_t in, int64_t out, int64_t kernel,
            int64_t stride = 1, int64_t padding = 0, bool has_bias = true);
  at::Tensor operator()(const at::Tensor& x) const;
};

// Norm parameters are always kept in fp32: reduced-precision norms are slow on CPU and lose
// accuracy; the input is upcast for the normalisation and cast back.
struct LayerNorm {
  at::Tensor weight, bias;
  double eps = 1e-5;
  int64_t dim = 0;
  void bind(WeightStore& store, const std::string& prefix, int64_t dim, double eps);
  at::Tensor operator()(const at::Tensor& x) const;
};

struct GroupNorm {
  at::Tensor weight, bias;
  int64_t groups = 32;
  double eps = 1e-6;
  void bind(WeightStore& store, const std::string& prefix, int64_t groups, int64_t channels,
            double eps);
  at::Tensor operator()(const at::Tensor& x) const;
};

}  // namespace editclip::nn
