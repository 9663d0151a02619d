#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "engine/core/error.h"
#include "models/lpips/lpips.h"
#include "tests/test_support.h"

using namespace editclip;
namespace fs = std::filesystem;

namespace {

using namespace editclip::test;

const std::string kLpipsDir = std::string(EDITCLIP_TEST_FIXTURES) + "/models/lpips_a";

}  // namespace

TEST(Lpips, MissingFilesAreNamed) {
  TempDir tmp;
  auto msg = error_of([&] { Lpips::load(tmp.path.string(), "vgg"); });
  EXPECT_TRUE(contains(msg, tmp.path.string())) << msg;
  EXPECT_TRUE(contains(msg, "vgg_features")) << msg;
  msg = error_of([&] { Lpips::load(kLpipsDir, "squeeze"); });
  EXPECT_TRUE(contains(msg, "squeeze")) << msg;
}

TEST(Lpips, LayersSumToTheDistance) {
  auto lpips = Lpips::load(kLpipsDir, "vgg");
  auto a = at::rand({2, 3, 32, 48}) * 2 - 1, b = at::rand({2, 3, 32, 48}) * 2 - 1;
  auto out = lpips->forward(a, b);
  ASSERT_EQ(out.layers.size(), 5u);
  at::Tensor sum = at::zeros_like(out.distance);
  for (const auto& l : out.layers) sum = sum + l;
  EXPECT_TRUE(at::allclose(sum, out.distance));
  EXPECT_TRUE((out.distance > 0).all().item<bool>());
  // normalize=true maps [0, 1] inputs to [-1, 1] first.
  auto n = lpips->forward(a / 2 + 0.5, b / 2 + 0.5, /*normalize=*/true);
  EXPECT_TRUE(at::allclose(n.distance, out.distance, 1e-4, 1e-6));
}

TEST(Lpips, IdenticalImagesHaveZeroDistanceAndGradientsFlow) {
  auto lpips = Lpips::load(kLpipsDir, "alex");
  auto a = at::rand({2, 3, 64, 64}) * 2 - 1;
  auto same = lpips->forward(a, a);
  EXPECT_EQ(same.distance.sizes(), (std::vector<int64_t>{2, 1, 1, 1}));
  EXPECT_LT(same.distance.abs().max().item<double>(), 1e-7);
  auto b = (at::rand({2, 3, 64, 64}) * 2 - 1).requires_grad_(true);
  auto d = lpips->forward(a, b).distance;
  d.sum().backward();
  ASSERT_TRUE(b.grad().defined());
  EXPECT_GT(b.grad().abs().sum().item<double>(), 0.0);
  auto msg = error_of([&] {
    lpips->forward(at::zeros({1, 3, 16, 16}), at::zeros({1, 3, 16, 16}));
  });
  EXPECT_TRUE(contains(msg, "too small")) << msg;
}
