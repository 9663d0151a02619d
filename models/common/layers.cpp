#include "models/common/layers.h"

#include <atomic>
#include <cmath>
#include <limits>

#include "engine/core/cpu_tuning.h"
#include "engine/core/torch_compat.h"

namespace editclip::nn {

namespace {
std::atomic<bool> g_cpu_matmul_bf16{false};
std::atomic<bool> g_emulate_bf16{false};

at::Tensor round_bf16(const at::Tensor& t) {
  return t.defined() ? t.to(at::kBFloat16).to(at::kFloat) : t;
}
}  // namespace

ComputePolicy compute_policy() {
  ComputePolicy p;
  p.cpu_matmul_bf16 = g_cpu_matmul_bf16.load(std::memory_order_relaxed);
  p.emulate_bf16 = g_emulate_bf16.load(std::memory_order_relaxed);
  return p;
}

void set_compute_policy(const ComputePolicy& policy) {
  g_emulate_bf16.store(policy.emulate_bf16, std::memory_order_relaxed);
  g_cpu_matmul_bf16.store(policy.cpu_matmul_bf16, std::memory_order_relaxed);
}

void set_cpu_matmul_bf16(bool on) {
  g_cpu_matmul_bf16.store(on, std::memory_order_relaxed);
}

bool cpu_has_fast_bf16() {
  const CpuFeatures& f = cpu_features();
  return f.avx512_bf16 || f.amx_bf16;
}

bool use_bf16_matmul(const at::Tensor& x) {
  return g_cpu_matmul_bf16.load(std::memory_order_relaxed) && x.is_cpu() &&
         x.scalar_type() == at::kFloat;
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
  if (!use_bf16_matmul(q)) return compat::scaled_dot_product_attention(q, k, v, causal);
  if (g_emulate_bf16.load(std::memory_order_relaxed)) {
    // Rounding points of the bf16 path: inputs, scaled scores, probabilities, output.
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    at::Tensor s = round_bf16(at::matmul(round_bf16(q), round_bf16(k).transpose(-2, -1)) * scale);
    if (causal) {
      auto mask = at::ones({q.size(-2), k.size(-2)}, q.options().dtype(at::kBool)).triu_(1);
      s.masked_fill_(mask, -std::numeric_limits<float>::infinity());
    }
    return round_bf16(at::matmul(round_bf16(at::softmax(s, -1)), round_bf16(v)));
  }
  return compat::scaled_dot_product_attention(q.to(at::kBFloat16), k.to(at::kBFloat16),
                                              v.to(at::kBFloat16), causal)
      .to(at::kFloat);
}

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
  if (use_bf16_matmul(x)) {
    at::Tensor w, b;
    if (weight.scalar_type() == at::kBFloat16) {
      w = weight;
      b = match_dtype(bias, w);
    } else {
      std::lock_guard<std::mutex> lock(lp_cache_->mutex);
      LowPrecisionCache& c = *lp_cache_;
      // Inference tensors carry no version counter: for them the identity is the key, so code
      // that changes such weights in place (inside inference mode) must assign new tensors.
      auto version = [](const at::Tensor& t) {
        return !t.defined() || t.is_inference() ? int64_t{0} : t._version();
      };
      const int64_t v = version(weight) * 1000003 + version(bias);
      if (c.source != weight.unsafeGetTensorImpl() || c.bias_source != bias.unsafeGetTensorImpl() ||
          c.version != v) {
        c.weight = weight.to(at::kBFloat16);
        c.bias = bias.defined() ? bias.to(at::kBFloat16) : at::Tensor();
        c.source = weight.unsafeGetTensorImpl();
        c.bias_source = bias.unsafeGetTensorImpl();
        c.version = v;
      }
      w = c.weight;
      b = c.bias;
    }
    if (g_emulate_bf16.load(std::memory_order_relaxed))
      return round_bf16(at::linear(round_bf16(x), w.to(at::kFloat), round_bf16(b)));
    return at::linear(x.to(at::kBFloat16), w, b).to(at::kFloat);
  }
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
