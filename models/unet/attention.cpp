#include "models/unet/attention.h"

#include "engine/core/torch_compat.h"

namespace editclip {

at::Tensor multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                int64_t heads, bool upcast) {
  const int64_t b = q.size(0), tq = q.size(1), tk = k.size(1), width = q.size(2);
  const int64_t d = width / heads;
  auto split = [&](const at::Tensor& t, int64_t len) {
    return t.view({b, len, heads, d}).transpose(1, 2);  // [B,H,T,D]
  };
  at::Tensor qh = split(q, tq), kh = split(k, tk), vh = split(v, tk);
  const bool reduced = q.scalar_type() == at::kHalf || q.scalar_type() == at::kBFloat16;
  at::Tensor out;
  if (upcast && reduced) {
    out = compat::scaled_dot_product_attention(qh.to(at::kFloat), kh.to(at::kFloat),
                                               vh.to(at::kFloat))
              .to(q.scalar_type());
  } else {
    out = nn::attention(qh, kh, vh);
  }
  return out.transpose(1, 2).reshape({b, tq, width});
}

void Attention::bind(WeightStore& store, const std::string& prefix, int64_t query_dim,
                     int64_t context_dim, int64_t heads_, int64_t head_dim_, bool qkv_bias,
                     bool upcast_) {
  heads = heads_;
  head_dim = head_dim_;
  upcast = upcast_;
  const int64_t inner = heads * head_dim;
  to_q.bind(store, prefix + ".to_q", query_dim, inner, qkv_bias);
  to_k.bind(store, prefix + ".to_k", context_dim, inner, qkv_bias);
  to_v.bind(store, prefix + ".to_v", context_dim, inner, qkv_bias);
  to_out.bind(store, prefix + ".to_out.0", inner, query_dim);
}

at::Tensor Attention::operator()(const at::Tensor& x, const at::Tensor& context) const {
  const at::Tensor& ctx = context.defined() ? context : x;
  return to_out(multi_head_attention(to_q(x), to_k(ctx), to_v(ctx), heads, upcast));
}

}  // namespace editclip
