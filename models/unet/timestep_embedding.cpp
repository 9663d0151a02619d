#include "models/unet/timestep_embedding.h"

#include <cmath>

#include "engine/core/error.h"

namespace editclip {

at::Tensor sinusoidal_timestep_features(const at::Tensor& timesteps, int64_t dim,
                                        bool flip_sin_to_cos, double freq_shift,
                                        double max_period) {
  if (timesteps.dim() != 1)
    throw_error("timestep features: expected a 1-D tensor of timesteps, got ", timesteps.dim(),
                " dimensions");
  const int64_t half = dim / 2;
  // Same operation order and fp32 rounding as the reference, so features match to the last bit
  // for integer timesteps.
  auto opts = at::TensorOptions().dtype(at::kFloat).device(timesteps.device());
  at::Tensor exponent = at::arange(0, half, opts)
                            .mul(-std::log(max_period))
                            .div(static_cast<double>(half) - freq_shift);
  at::Tensor args = timesteps.to(at::kFloat).unsqueeze(1) * exponent.exp().unsqueeze(0);
  at::Tensor sin = args.sin(), cos = args.cos();
  at::Tensor emb = flip_sin_to_cos ? at::cat({cos, sin}, -1) : at::cat({sin, cos}, -1);
  if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1, 0, 0}, 0);
  return emb;
}

void TimestepEmbedding::bind(WeightStore& store, const std::string& prefix, int64_t in,
                             int64_t dim) {
  linear_1.bind(store, prefix + ".linear_1", in, dim);
  linear_2.bind(store, prefix + ".linear_2", dim, dim);
}

at::Tensor TimestepEmbedding::operator()(const at::Tensor& features) const {
  return linear_2(at::silu(linear_1(features)));
}

}  // namespace editclip
