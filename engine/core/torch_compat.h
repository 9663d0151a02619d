// The one place where LibTorch version differences live (Debian's 1.13 CPU build vs 2.x CUDA
// builds). Everything else in the project includes this instead of testing versions itself.
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

namespace editclip::compat {

constexpr bool kTorch2 = TORCH_VERSION_MAJOR >= 2;

// Scaled dot-product attention over [B, H, T, D] tensors. 2.x has a public fused kernel (flash /
// memory-efficient on CUDA, fused on CPU); 1.13 only ships the math path under a private name,
// so we spell the math out (same cost, and it works with autograd on both).
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v, bool causal = false) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, causal);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = at::matmul(q, k.transpose(-2, -1)).mul_(scale);
  if (causal) {
    const auto t = q.size(-2);
    auto mask = at::ones({t, k.size(-2)}, q.options().dtype(at::kBool)).triu_(1);
    scores.masked_fill_(mask, -std::numeric_limits<float>::infinity());
  }
  return at::matmul(at::softmax(scores, -1), v);
#endif
}

inline bool cuda_available() {
#if TORCH_VERSION_MAJOR >= 2
  return at::hasCUDA() && at::globalContext().hasCUDA();
#else
  return at::hasCUDA();
#endif
}

}  // namespace editclip::compat
