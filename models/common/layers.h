// Building blocks shared by every network: thin holders of weight tensors bound from a
// WeightStore under their release names, with a functional forward. Keeping models as plain
// tensors (no torch::nn modules) makes weight layouts explicit and lets one binding routine
// serve loading, checking and random initialisation.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "engine/io/weight_store.h"

namespace editclip::nn {

// Weights may be stored in fp16/bf16 to save memory while activations stay fp32 (CPU) or run in
// the weights' dtype (CUDA half). This casts a weight to the activation dtype when they differ.
at::Tensor match_dtype(const at::Tensor& weight, const at::Tensor& x);

struct Linear {
  at::Tensor weight, bias;  // [out, in], [out] (bias may be undefined)
  void bind(WeightStore& store, const std::string& prefix, int64_t in, int64_t out,
            bool has_bias = true);
  at::Tensor operator()(const at::Tensor& x) const;
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
