// Multi-head attention as diffusers' `Attention` module with the plain processor: separate
// to_q/to_k/to_v projections, softmax(q k^T / sqrt(head_dim)) v per head, to_out.0.
#pragma once

#include <ATen/ATen.h>

#include "models/common/layers.h"

namespace editclip {

// q [B,Tq,H*D], k/v [B,Tk,H*D] -> [B,Tq,H*D]. `upcast`: reduced-precision inputs are attended in
// fp32 (diffusers' upcast_attention / upcast_softmax).
at::Tensor multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                int64_t heads, bool upcast = false);

struct Attention {
  nn::Linear to_q, to_k, to_v, to_out;
  int64_t heads = 1, head_dim = 0;
  bool upcast = false;

  // context_dim: width of the states attended to (query_dim for self-attention).
  void bind(WeightStore& store, const std::string& prefix, int64_t query_dim, int64_t context_dim,
            int64_t heads, int64_t head_dim, bool qkv_bias, bool upcast);
  // context undefined: self-attention.
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& context = {}) const;
};

}  // namespace editclip
