#include "models/common/layers.h"

namespace editclip::nn {

at::Tensor match_dtype(const at::Tensor& weight, const at::Tensor& x) {
  if (!weight.defined() || weight.scalar_type() == x.scalar_type()) return weight;
  return weight.to(x.scalar_type());
}

void Linear::bind(WeightStore& store, const std::string& prefix, int64_t in, int64_t out,
                  bool has_bias) {
  weight = store.get(prefix + ".weight", {out, in});
  bias = has_bias ? store.get(prefix + ".bias", {out}) : at::Tensor();
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  return at::linear(x, match_dtype(weight, x), match_dtype(bias, x));
}

void Conv2d::bind(WeightStore& store, const std::string& prefix, int64_t in, int64_t out,
                  int64_t kernel, int64_t stride_, int64_t padding_, bool has_bias) {
  weight = store.get(prefix + ".weight", {out, in, kernel, kernel});
  bias = has_bias ? store.get(prefix + ".bias", {out}) : at::Tensor();
  stride = stride_;
  padding = padding_;
}

at::Tensor Conv2d::operator()(const at::Tensor& x) const {
  return at::conv2d(x, match_dtype(weight, x), match_dtype(bias, x), {stride, stride},
                    {padding, padding});
}

void LayerNorm::bind(WeightStore& store, const std::string& prefix, int64_t dim_, double eps_) {
  dim = dim_;
  eps = eps_;
  weight = store.get(prefix + ".weight", {dim}, at::kFloat);
  bias = store.get(prefix + ".bias", {dim}, at::kFloat);
}

at::Tensor LayerNorm::operator()(const at::Tensor& x) const {
  if (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble)
    return at::layer_norm(x, {dim}, match_dtype(weight, x), match_dtype(bias, x), eps);
  return at::layer_norm(x.to(at::kFloat), {dim}, weight, bias, eps).to(x.scalar_type());
}

void GroupNorm::bind(WeightStore& store, const std::string& prefix, int64_t groups_,
                     int64_t channels, double eps_) {
  groups = groups_;
  eps = eps_;
  weight = store.get(prefix + ".weight", {channels}, at::kFloat);
  bias = store.get(prefix + ".bias", {channels}, at::kFloat);
}

at::Tensor GroupNorm::operator()(const at::Tensor& x) const {
  if (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble)
    return at::group_norm(x, groups, match_dtype(weight, x), match_dtype(bias, x), eps);
  return at::group_norm(x.to(at::kFloat), groups, weight, bias, eps).to(x.scalar_type());
}

}  // namespace editclip::nn
