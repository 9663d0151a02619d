// Diffusion timestep conditioning: sinusoidal features (diffusers `Timesteps`) and the two-layer
// MLP that turns them into the embedding every ResnetBlock2D receives (`TimestepEmbedding`).
#pragma once

#include <ATen/ATen.h>

#include "models/common/layers.h"

namespace editclip {

// timesteps [N] (any numeric dtype; fractional values are kept) -> float32 [N, dim]:
// freq_k = exp(-ln(max_period) * k / (dim/2 - freq_shift)), features [sin(t f), cos(t f)], or
// [cos, sin] when flip_sin_to_cos; an odd `dim` gets a trailing zero column.
at::Tensor sinusoidal_timestep_features(const at::Tensor& timesteps, int64_t dim,
                                        bool flip_sin_to_cos, double freq_shift,
                                        double max_period = 10000.0);

// linear_1 -> SiLU -> linear_2.
struct TimestepEmbedding {
  nn::Linear linear_1, linear_2;
  void bind(WeightStore& store, const std::string& prefix, int64_t in, int64_t dim);
  at::Tensor operator()(const at::Tensor& features) const;
};

}  // namespace editclip
