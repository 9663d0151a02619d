#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "engine/core/error.h"
#include "engine/io/weight_store.h"
#include "models/unet/unet2d_condition.h"
#include "models/unet/unet_config.h"
#include "models/vae/autoencoder_kl.h"
#include "tests/test_support.h"

using namespace editclip;
using nlohmann::json;

namespace {

using namespace editclip::test;

json fixture_unet_config() {
  std::ifstream in(std::string(EDITCLIP_TEST_FIXTURES) + "/models/ip2p_a/unet/config.json");
  return json::parse(in);
}

}  // namespace

TEST(UNetConfig, FixtureConfigParses) {
  auto c = UNet2DConditionConfig::from_json(fixture_unet_config(), "unet/config.json");
  EXPECT_EQ(c.in_channels, 8);
  EXPECT_EQ(c.out_channels, 4);
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(c.num_heads(0), 4);  // legacy attention_head_dim = number of heads
  EXPECT_EQ(c.cross_attention_dim, 32);
  EXPECT_EQ(c.time_embed_dim(), 128);
}

TEST(UNetConfig, UnsupportedDownBlockTypeNamesTheField) {
  json j = fixture_unet_config();
  j["down_block_types"][0] = "SimpleCrossAttnDownBlock2D";
  std::string msg = error_of([&] { UNet2DConditionConfig::from_json(j, "unet/config.json"); });
  EXPECT_TRUE(contains(msg, "config.json")) << msg;
  EXPECT_TRUE(contains(msg, "down_block_types")) << msg;
  EXPECT_TRUE(contains(msg, "SimpleCrossAttnDownBlock2D")) << msg;
  EXPECT_TRUE(contains(msg, "not supported")) << msg;
}

TEST(UNetConfig, UnsupportedOptionsNameTheField) {
  const std::vector<std::pair<std::string, json>> options = {
      {"class_embed_type", "timestep"},
      {"addition_embed_type", "text_time"},
      {"encoder_hid_dim", 1024},
      {"dual_cross_attention", true},
      {"resnet_time_scale_shift", "scale_shift"},
      {"time_cond_proj_dim", 256},
      {"attention_type", "gated"},
      {"time_embedding_type", "fourier"},
      {"only_cross_attention", true},
      {"mid_block_type", "UNetMidBlock2DSimpleCrossAttn"},
  };
  for (auto& [key, value] : options) {
    json j = fixture_unet_config();
    j[key] = value;
    std::string msg = error_of([&] { UNet2DConditionConfig::from_json(j, "unet/config.json"); });
    EXPECT_TRUE(contains(msg, "config.json")) << key << ": " << msg;
    EXPECT_TRUE(contains(msg, key)) << key << ": " << msg;
    EXPECT_TRUE(contains(msg, "not supported")) << key << ": " << msg;
  }
}

TEST(UNetConfig, HeadsMustDivideChannels) {
  json j = fixture_unet_config();
  j["attention_head_dim"] = 5;
  EXPECT_THROW(UNet2DConditionConfig::from_json(j, "unet/config.json"), Error);
}

TEST(UNetConfig, PerBlockHeadsAndNumAttentionHeads) {
  json j = fixture_unet_config();
  j["attention_head_dim"] = {2, 4};
  auto c = UNet2DConditionConfig::from_json(j, "unet/config.json");
  EXPECT_EQ(c.num_heads(0), 2);
  EXPECT_EQ(c.num_heads(1), 4);
  j["num_attention_heads"] = 8;
  c = UNet2DConditionConfig::from_json(j, "unet/config.json");
  EXPECT_EQ(c.num_heads(0), 8);
}

TEST(UNetConfig, FourChannelUNetBuildsAndRuns) {
  // The UNet itself takes any in_channels; only the exemplar pipeline insists on 8.
  json j = fixture_unet_config();
  j["in_channels"] = 4;
  auto c = UNet2DConditionConfig::from_json(j, "unet/config.json");
  WeightStore store("random", WeightStore::Mode::Random);
  UNet2DCondition unet(c, store);
  at::Tensor out =
      unet.forward(at::randn({2, 4, 8, 8}), at::tensor(10, at::kLong), at::randn({2, 5, 32}));
  EXPECT_EQ(out.sizes(), at::IntArrayRef({2, 4, 8, 8}));
}

TEST(UNetConfig, LinearProjectionAndOddSizes) {
  json j = fixture_unet_config();
  j["use_linear_projection"] = true;
  auto c = UNet2DConditionConfig::from_json(j, "unet/config.json");
  WeightStore store("random", WeightStore::Mode::Random);
  UNet2DCondition unet(c, store);
  EXPECT_EQ(store.bound().at("down_blocks.0.attentions.0.proj_in.weight").dim(), 2);
  // 7x9: the down path gives 4x5; the up path must come back to 7x9 through the skips.
  at::Tensor out =
      unet.forward(at::randn({1, 8, 7, 9}), at::tensor({3.5}, at::kFloat), at::randn({1, 3, 32}));
  EXPECT_EQ(out.sizes(), at::IntArrayRef({1, 4, 7, 9}));
}

TEST(UNetConfig, CheckModeReportsMissingWithoutCrashing) {
  auto c = UNet2DConditionConfig::from_json(fixture_unet_config(), "unet/config.json");
  WeightStore store("empty", WeightStore::Mode::Check);
  UNet2DCondition unet(c, store);
  EXPECT_FALSE(store.problems().empty());
}

TEST(VaeConfig, RejectsOtherBlockTypesAndNamesTheField) {
  json j = {{"_class_name", "AutoencoderKL"},
            {"block_out_channels", {32, 32}},
            {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
            {"up_block_types", {"UpDecoderBlock2D", "AttnUpDecoderBlock2D"}},
            {"norm_num_groups", 8}};
  std::string msg = error_of([&] { AutoencoderKLConfig::from_json(j, "vae/config.json"); });
  EXPECT_TRUE(contains(msg, "up_block_types") && contains(msg, "not supported")) << msg;
  j["up_block_types"][1] = "UpDecoderBlock2D";
  auto c = AutoencoderKLConfig::from_json(j, "vae/config.json");
  EXPECT_DOUBLE_EQ(c.scaling_factor, 0.18215);
  EXPECT_EQ(c.downscale_factor(), 2);
}

TEST(VaeConfig, LegacyAttentionNamesAreAccepted) {
  json j = {{"block_out_channels", {8}},
            {"down_block_types", {"DownEncoderBlock2D"}},
            {"up_block_types", {"UpDecoderBlock2D"}},
            {"norm_num_groups", 4}};
  auto c = AutoencoderKLConfig::from_json(j, "vae/config.json");
  WeightStore random("random", WeightStore::Mode::Random);
  AutoencoderKL reference(c, random);
  WeightStore legacy("legacy");
  for (auto& [name, t] : random.bound()) {
    std::string n = name;
    for (auto [from, to] :
         std::vector<std::pair<std::string, std::string>>{{".to_q.", ".query."},
                                                          {".to_k.", ".key."},
                                                          {".to_v.", ".value."},
                                                          {".to_out.0.", ".proj_attn."}}) {
      auto pos = n.find(from);
      if (pos != std::string::npos) n.replace(pos, from.size(), to);
    }
    legacy.add(n, t);
  }
  AutoencoderKL converted(c, legacy);
  legacy.require_all_used();
  at::Tensor img = at::randn({1, 3, 8, 8});
  EXPECT_TRUE(at::allclose(reference.decode(reference.encode(img).mean),
                           converted.decode(converted.encode(img).mean)));
}

namespace {
int64_t parameter_count(const WeightStore& store) {
  int64_t n = 0;
  for (auto& [name, t] : store.bound()) n += t.numel();
  return n;
}
std::string configs_dir() {
  return std::string(EDITCLIP_TEST_FIXTURES) + "/../../models/configs/";
}
}  // namespace

TEST(FullSizeConfigs, SD15UNetAndVaeConstructInRandomMode) {
  // Meta tensors: shapes only, so the full-size models cost no memory here.
  WeightOptions meta;
  meta.device = at::kMeta;
  auto uc = UNet2DConditionConfig::from_file(configs_dir() + "sd15_ip2p_unet.json");
  WeightStore us("sd15_ip2p_unet", WeightStore::Mode::Random, meta);
  UNet2DCondition unet(uc, us);
  const int64_t unet_params = parameter_count(us);
  auto vc = AutoencoderKLConfig::from_file(configs_dir() + "sd_vae.json");
  WeightStore vs("sd_vae", WeightStore::Mode::Random, meta);
  AutoencoderKL vae(vc, vs);
  const int64_t vae_params = parameter_count(vs);
  std::cout << "SD1.5 IP2P UNet parameters: " << unet_params << ", VAE parameters: " << vae_params
            << "\n";
  // diffusers: UNet2DConditionModel (in_channels 8) 859,532,484 (SD 1.5 has 859,520,964 with 4
  // input channels); AutoencoderKL 83,653,863.
  EXPECT_EQ(unet_params, 859532484);
  EXPECT_EQ(vae_params, 83653863);
  EXPECT_EQ(us.bound().size(), 686u);  // tensors in the released unet safetensors
}
