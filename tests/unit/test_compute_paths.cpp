// The fast inference paths must agree with the plain math: blocked attention (including a short
// last block and causal masks, which the small parity fixtures never reach), the opt-in bf16
// matmul policy (off by default, bounded error when on), and the CPU tuning helpers.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <tuple>
#include <vector>

#include "engine/core/cpu_tuning.h"
#include "engine/core/torch_compat.h"
#include "models/common/layers.h"
#include "tests/test_support.h"

using namespace editclip;

namespace {

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Restores the default policy even when an assertion fails.
struct PolicyGuard {
  ~PolicyGuard() { nn::set_compute_policy({}); }
};

}  // namespace

TEST(BlockedAttention, MatchesMathForAllBlockings) {
  c10::InferenceMode inference;
  at::manual_seed(0);
  // (tq, tk, n, causal): 1024x257 with 24 heads leaves a short last block; 300 and 1000 are not
  // multiples of 8; the tiny case is a single block.
  const std::vector<std::tuple<int64_t, int64_t, int64_t, bool>> cases = {
      {1024, 257, 24, false}, {1024, 1024, 24, false}, {1000, 1000, 24, true},
      {300, 300, 133, true},  {77, 77, 12, true},      {5, 3, 2, false}};
  for (const auto& [tq, tk, n, causal] : cases) {
    at::Tensor q = at::randn({n, tq, 40}), k = at::randn({n, tk, 40}), v = at::randn({n, tk, 24});
    at::Tensor fast = compat::detail::attention_blocked(q, k, v, causal);
    at::Tensor ref = compat::detail::attention_math(q, k, v, causal);
    ASSERT_EQ(fast.sizes(), ref.sizes());
    EXPECT_LT(max_abs_diff(fast, ref), 1e-5) << tq << "x" << tk << " n=" << n;
  }
}

TEST(BlockedAttention, KeepsLeadingDimsAndStridedInputs) {
  c10::InferenceMode inference;
  at::manual_seed(1);
  // [B, T, H*D] split into heads as the UNet does: non-contiguous [B, H, T, D] views.
  at::Tensor x = at::randn({2, 700, 4 * 16});
  auto heads = [](const at::Tensor& t) { return t.view({2, t.size(1), 4, 16}).transpose(1, 2); };
  at::Tensor out = compat::scaled_dot_product_attention(heads(x), heads(x * 0.5), heads(x));
  at::Tensor ref = compat::detail::attention_math(heads(x), heads(x * 0.5), heads(x), false);
  ASSERT_EQ(out.sizes(), (at::IntArrayRef{2, 4, 700, 16}));
  EXPECT_LT(max_abs_diff(out, ref), 1e-5);
}

TEST(BlockedAttention, AutogradStillWorks) {
  at::Tensor q = at::randn({1, 2, 9, 8}).requires_grad_(true);
  at::Tensor out = compat::scaled_dot_product_attention(q, q, q, true);
  out.sum().backward();
  ASSERT_TRUE(q.grad().defined());
  EXPECT_TRUE(at::isfinite(q.grad()).all().item<bool>());
}

TEST(ComputePolicy, DefaultIsExactFp32) {
  EXPECT_FALSE(nn::compute_policy().cpu_matmul_bf16);
  c10::InferenceMode inference;
  nn::Linear lin;
  lin.weight = at::randn({16, 32});
  lin.bias = at::randn({16});
  at::Tensor x = at::randn({3, 5, 32});
  EXPECT_TRUE(at::equal(lin(x), at::linear(x, lin.weight, lin.bias)));
  EXPECT_FALSE(nn::use_bf16_matmul(x));
}

TEST(ComputePolicy, Bf16LinearAndAttentionStayClose) {
  PolicyGuard guard;
  c10::InferenceMode inference;
  at::manual_seed(2);
  nn::Linear lin;
  lin.weight = at::randn({64, 128}) / 11.3;
  lin.bias = at::randn({64});
  at::Tensor x = at::randn({2, 33, 128});
  at::Tensor q = at::randn({2, 4, 50, 16}), k = at::randn({2, 4, 60, 16}),
             v = at::randn({2, 4, 60, 16});
  const at::Tensor ref_lin = lin(x), ref_att = nn::attention(q, k, v);
  for (bool emulate : {false, true}) {
    nn::set_compute_policy({true, emulate});
    EXPECT_TRUE(nn::use_bf16_matmul(x));
    at::Tensor y = lin(x), a = nn::attention(q, k, v);
    EXPECT_EQ(y.scalar_type(), at::kFloat);
    EXPECT_EQ(a.scalar_type(), at::kFloat);
    // bf16 keeps 8 significant bits: errors of a few 1e-2 on O(1) outputs, never more.
    EXPECT_LT(max_abs_diff(y, ref_lin), 0.1) << "emulate=" << emulate;
    EXPECT_LT(max_abs_diff(a, ref_att), 0.1) << "emulate=" << emulate;
    EXPECT_GT(max_abs_diff(y, ref_lin), 0.0);  // the policy really changed the path
  }
  // The cached bf16 copy follows a replaced weight and in-place updates of a normal (not
  // inference-mode) weight tensor.
  nn::set_compute_policy({true, false});
  nn::Linear lin2;
  {
    c10::InferenceMode off(false);
    lin2.weight = at::randn({64, 128});
    lin2.bias = at::zeros({64});
  }
  const at::Tensor y1 = lin2(x);
  {
    c10::InferenceMode off(false);
    at::NoGradGuard no_grad;
    lin2.weight.mul_(2);
  }
  const at::Tensor y2 = lin2(x);
  EXPECT_LT(max_abs_diff(y2, y1 * 2), 0.5);
  EXPECT_GT(max_abs_diff(y2, y1), 1.0);
  lin2.weight = lin2.weight * 0.5;
  EXPECT_LT(max_abs_diff(lin2(x), y1), 1e-6);
}

TEST(CpuTuning, RespectsUserValuesAndOptOut) {
  editclip::test::ScopedEnv env;
  env.set("OPENBLAS_CORETYPE", "HASWELL");
  env.set("ATEN_CPU_CAPABILITY", "avx2");
  for (const auto& [name, value] : recommended_cpu_env()) {
    EXPECT_NE(name, "OPENBLAS_CORETYPE");
    EXPECT_NE(name, "ATEN_CPU_CAPABILITY");
  }
  env.unset("OPENBLAS_CORETYPE");
  env.unset("ATEN_CPU_CAPABILITY");
  env.set("EDITCLIP_NO_CPU_TUNING", "1");
  EXPECT_TRUE(recommended_cpu_env().empty());
  env.unset("EDITCLIP_NO_CPU_TUNING");
  // Recommendations follow the hardware: AVX-512 ones only where AVX-512 exists.
  const bool avx512 = cpu_features().avx512;
  bool any_avx512 = false;
  for (const auto& [name, value] : recommended_cpu_env())
    if (value == "SKYLAKEX" || value == "avx512") any_avx512 = true;
  EXPECT_EQ(any_avx512, avx512);
  EXPECT_FALSE(cpu_tuning_summary().empty());
}
