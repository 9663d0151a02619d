#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/io/weight_store.h"

using namespace editclip;

TEST(WeightStore, LoadReturnsTensorAndTracksUse) {
  WeightStore store("test");
  store.add("a.weight", at::ones({2, 3}));
  store.add("b.weight", at::ones({4}));
  auto t = store.get("a.weight", {2, 3});
  EXPECT_EQ(t.sizes(), at::IntArrayRef({2, 3}));
  ASSERT_EQ(store.unused().size(), 1u);
  EXPECT_EQ(store.unused()[0], "b.weight");
  EXPECT_THROW(store.require_all_used(), Error);
}

TEST(WeightStore, WrongShapeAndMissingAreErrorsNamingTheTensor) {
  WeightStore store("model.safetensors");
  store.add("w", at::ones({2, 3}));
  try {
    store.get("w", {3, 2});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[3, 2]"), std::string::npos);
  }
  EXPECT_THROW(store.get("missing", {1}), Error);
  EXPECT_FALSE(store.get_optional("missing", {1}).defined());
}

TEST(WeightStore, CheckModeRecordsEveryProblem) {
  WeightStore store("folder", WeightStore::Mode::Check);
  store.add("ok", at::ones({2}));
  store.add("bad", at::ones({2}));
  store.add("extra", at::ones({5}));
  store.get("ok", {2});
  store.get("bad", {3});
  store.get("gone", {7});
  auto problems = store.problems();
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].kind, WeightStore::Problem::Kind::WrongShape);
  EXPECT_EQ(problems[1].kind, WeightStore::Problem::Kind::Missing);
  EXPECT_EQ(problems[2].kind, WeightStore::Problem::Kind::Unexpected);
}

TEST(WeightStore, ConvertsToStorageDtypeButKeepsRequestedNormDtype) {
  WeightOptions opts;
  opts.dtype = at::kHalf;
  WeightStore store("test", WeightStore::Mode::Load, opts);
  store.add("lin.weight", at::randn({4, 4}));
  store.add("norm.weight", at::randn({4}));
  EXPECT_EQ(store.get("lin.weight", {4, 4}).scalar_type(), at::kHalf);
  EXPECT_EQ(store.get("norm.weight", {4}, at::kFloat).scalar_type(), at::kFloat);
}

TEST(WeightStore, RandomModeCreatesScaledWeights) {
  WeightStore store("random", WeightStore::Mode::Random);
  auto w = store.get("layer.weight", {64, 256});
  EXPECT_EQ(w.sizes(), at::IntArrayRef({64, 256}));
  EXPECT_NEAR(w.std().item<double>(), 1.0 / 16.0, 0.01);
  EXPECT_TRUE(store.get("layer.bias", {64}).eq(0).all().item<bool>());
  EXPECT_TRUE(store.get("norm.weight", {64}).eq(1).all().item<bool>());
}
