#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/core/error.h"
#include "engine/io/safetensors_reader.h"
#include "engine/io/weight_store.h"
#include "models/clip/clip_config.h"
#include "models/clip/clip_model.h"
#include "tests/test_support.h"

using namespace editclip;
namespace fs = std::filesystem;

namespace {

using namespace editclip::test;

const std::string kFixtures = EDITCLIP_TEST_FIXTURES;
const std::string kClipDir = kFixtures + "/models/clip_a/clip";
const std::string kEditClipDir = kFixtures + "/models/editclip_a/clip";

// Runs the model's binding on a Mode::Check store over the fixture weights.
std::vector<WeightStore::Problem> check_problems(const ClipConfig& config, const std::string& dir) {
  WeightStore store(dir, WeightStore::Mode::Check);
  store.add_safetensors(dir + "/model.safetensors");
  ClipModel model(config, store);
  return store.problems();
}

}  // namespace

TEST(ClipConfig, FixtureConfigsParse) {
  auto c = ClipConfig::from_file(kEditClipDir + "/config.json");
  EXPECT_EQ(c.vision.num_channels, 6);
  EXPECT_EQ(c.vision.image_size, 112);
  EXPECT_EQ(c.text.eos_token_id, 2);
  EXPECT_TRUE(c.text.legacy_eos_pooling());
  EXPECT_EQ(c.projection_dim, 48);
  auto p = ClipConfig::from_file(kClipDir + "/config.json");
  EXPECT_EQ(p.vision.num_channels, 3);
  EXPECT_EQ(p.text.eos_token_id, 49407);
  EXPECT_FALSE(p.text.legacy_eos_pooling());
}

TEST(ClipConfig, DefaultsAreTransformers) {
  auto c = ClipConfig::from_json(nlohmann::json::object(), "config.json");
  EXPECT_EQ(c.text.vocab_size, 49408);
  EXPECT_EQ(c.text.hidden_size, 512);
  EXPECT_EQ(c.text.num_attention_heads, 8);
  EXPECT_EQ(c.text.bos_token_id, 49406);
  EXPECT_EQ(c.text.eos_token_id, 49407);
  EXPECT_EQ(c.text.pad_token_id, 1);
  EXPECT_EQ(c.vision.hidden_size, 768);
  EXPECT_EQ(c.vision.patch_size, 32);
  EXPECT_EQ(c.vision.num_channels, 3);
  EXPECT_EQ(c.projection_dim, 512);
  EXPECT_DOUBLE_EQ(c.logit_scale_init_value, 2.6592);
}

TEST(ClipConfig, RejectsUnsupported) {
  using nlohmann::json;
  auto msg = error_of([] {
    ClipConfig::from_json(json{{"vision_config", {{"hidden_act", "relu"}}}}, "x/config.json");
  });
  EXPECT_TRUE(contains(msg, "x/config.json")) << msg;
  EXPECT_TRUE(contains(msg, "vision_config.hidden_act")) << msg;
  msg = error_of([] { ClipConfig::from_json(json{{"model_type", "siglip"}}, "config.json"); });
  EXPECT_TRUE(contains(msg, "model_type")) << msg;
  msg = error_of([] {
    ClipConfig::from_json(json{{"text_config", {{"hidden_size", 30}, {"num_attention_heads", 4}}}},
                          "config.json");
  });
  EXPECT_TRUE(contains(msg, "text_config.hidden_size")) << msg;
  msg = error_of([] {
    ClipConfig::from_json(json{{"vision_config", {{"num_channels", "six"}}}}, "config.json");
  });
  EXPECT_TRUE(contains(msg, "vision_config.num_channels")) << msg;
}

TEST(ClipModel, WrongChannelCountIsAClearError) {
  auto model = ClipModel::load(kClipDir);
  const auto& v = model->config().vision;
  ASSERT_EQ(v.num_channels, 3);
  auto msg = error_of([&] { model->encode_image(at::zeros({1, 6, v.image_size, v.image_size})); });
  EXPECT_TRUE(contains(msg, "expected 3 channels")) << msg;
  EXPECT_TRUE(contains(msg, "[1, 6, ")) << msg;
  msg = error_of([&] { model->encode_image(at::zeros({1, 3, 64, 64})); });
  EXPECT_TRUE(contains(msg, "image_size")) << msg;
}

TEST(ClipModel, OutputsHaveTheDocumentedShapes) {
  auto model = ClipModel::load(kEditClipDir);
  const auto& c = model->config();
  auto out = model->encode_image(at::randn({2, 6, c.vision.image_size, c.vision.image_size}), true);
  EXPECT_EQ(out.last_hidden_state.sizes(),
            (std::vector<int64_t>{2, c.vision.num_positions(), c.vision.hidden_size}));
  EXPECT_EQ(out.image_embeds.sizes(), (std::vector<int64_t>{2, c.projection_dim}));
  EXPECT_EQ(static_cast<int64_t>(out.hidden_states.size()), c.vision.num_hidden_layers + 1);
  auto ids = at::full({1, 77}, 49407, at::kLong);
  ids[0][0] = 49406;
  ids[0][1] = 320;
  auto t = model->encode_text(ids);
  EXPECT_EQ(t.eos_index.item<int64_t>(), 2);
  EXPECT_EQ(t.text_embeds.sizes(), (std::vector<int64_t>{1, c.projection_dim}));
  EXPECT_GT(model->logit_scale().item<double>(), 0.0);
}

TEST(ClipModel, GradientsFlowIntoThePatchEmbedding) {
  auto model = ClipModel::load(kEditClipDir);
  const auto& c = model->config();
  at::Tensor w = model->named_parameters().at("vision_model.embeddings.patch_embedding.weight");
  w.requires_grad_(true);
  auto out = model->encode_image(at::randn({1, 6, c.vision.image_size, c.vision.image_size}));
  out.image_embeds.sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_GT(w.grad().abs().sum().item<double>(), 0.0);
  w.requires_grad_(false);
}

TEST(ClipModel, MissingWeightsNameThePath) {
  TempDir tmp;
  fs::copy_file(kClipDir + "/config.json", tmp.path / "config.json");
  auto msg = error_of([&] { ClipModel::load(tmp.path.string()); });
  EXPECT_TRUE(contains(msg, (tmp.path / "model.safetensors").string())) << msg;
  msg = error_of([&] { ClipModel::load((tmp.path / "nowhere").string()); });
  EXPECT_TRUE(contains(msg, (tmp.path / "nowhere").string())) << msg;
}

TEST(ClipModel, PositionIdsBuffersAreAccepted) {
  TempDir tmp;
  fs::copy_file(kClipDir + "/config.json", tmp.path / "config.json");
  WeightStore store(kClipDir);
  store.add_safetensors(kClipDir + "/model.safetensors");
  std::map<std::string, at::Tensor> tensors;
  for (const auto& n : store.names())
    tensors[n] = store.get_optional(n, store.stored_shape(n).value());
  auto cfg = ClipConfig::from_file(kClipDir + "/config.json");
  tensors["text_model.embeddings.position_ids"] =
      at::arange(cfg.text.max_position_embeddings, at::kLong).unsqueeze(0);
  tensors["vision_model.embeddings.position_ids"] =
      at::arange(cfg.vision.num_positions(), at::kLong).unsqueeze(0);
  write_safetensors((tmp.path / "model.safetensors").string(), tensors);
  EXPECT_NO_THROW(ClipModel::load(tmp.path.string()));
}

TEST(ClipModel, CheckModeReportsNothingOnTheFixtures) {
  for (const auto& dir : {kClipDir, kEditClipDir}) {
    auto problems = check_problems(ClipConfig::from_file(dir + "/config.json"), dir);
    for (const auto& p : problems) ADD_FAILURE() << dir << ": " << p.name << ": " << p.detail;
  }
}

TEST(ClipModel, CheckModeReportsAChannelMismatch) {
  auto config = ClipConfig::from_file(kEditClipDir + "/config.json");
  config.vision.num_channels = 3;  // the file's patch conv takes 6
  auto problems = check_problems(config, kEditClipDir);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].kind, WeightStore::Problem::Kind::WrongShape);
  EXPECT_EQ(problems[0].name, "vision_model.embeddings.patch_embedding.weight");
}

TEST(ClipModel, RandomModeBuildsAWorkingModel) {
  auto config = ClipConfig::from_file(kEditClipDir + "/config.json");
  WeightStore store("random", WeightStore::Mode::Random);
  ClipModel model(config, store);
  auto out =
      model.encode_image(at::randn({1, 6, config.vision.image_size, config.vision.image_size}));
  EXPECT_TRUE(out.image_embeds.isfinite().all().item<bool>());
}
