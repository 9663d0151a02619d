// AdamW against the update written out by hand, gradient clipping, open_clip's no-decay rule on HF
// CLIP names, parameter groups, and the learning-rate schedules.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/training/adamw.h"
#include "engine/training/lr_schedule.h"
#include "models/clip/clip_model.h"
#include "tests/test_support.h"

using namespace editclip;
using namespace editclip::test;

namespace {

at::Tensor param(std::vector<float> values) {
  return at::tensor(values, at::kFloat).requires_grad_(true);
}

void set_grad(at::Tensor& p, std::vector<float> g) {
  p.mutable_grad() = at::tensor(g, at::kFloat);
}

// torch.optim.AdamW's update for one scalar, in double.
struct RefAdamW {
  double lr, wd, b1, b2, eps;
  double p, m = 0, v = 0;
  int step = 0;
  void update(double g) {
    ++step;
    p *= 1 - lr * wd;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    p -= lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + eps);
  }
};

}  // namespace

TEST(TrainingOptim, AdamWMatchesTheTorchUpdate) {
  at::Tensor a = param({1.0f, -2.0f, 0.5f});
  at::Tensor b = param({0.25f, 3.0f});
  ParamGroup ga;
  ga.name = "a";
  ga.params = {{"a", a}};
  ga.base_lr = 0.1;
  ga.weight_decay = 0.02;
  ParamGroup gb;
  gb.name = "b";
  gb.params = {{"b", b}};
  gb.base_lr = 0.01;
  gb.weight_decay = 0.0;
  gb.beta1 = 0.8;
  gb.beta2 = 0.99;
  gb.eps = 1e-6;
  AdamW opt({ga, gb});
  EXPECT_DOUBLE_EQ(opt.groups()[0].lr, 0.1);

  std::vector<RefAdamW> ra, rb;
  for (float x : {1.0f, -2.0f, 0.5f}) ra.push_back({0.1, 0.02, 0.9, 0.999, 1e-8, x});
  for (float x : {0.25f, 3.0f}) rb.push_back({0.01, 0.0, 0.8, 0.99, 1e-6, x});
  const std::vector<std::vector<float>> grads_a = {
      {0.5f, -1.0f, 2.0f}, {0.1f, 0.3f, -0.7f}, {-0.2f, 0.0f, 1.5f}, {1.0f, 1.0f, 1.0f}};
  const std::vector<std::vector<float>> grads_b = {
      {3.0f, -0.5f}, {-1.0f, 0.25f}, {0.5f, 0.5f}, {2.0f, -2.0f}};
  for (size_t s = 0; s < grads_a.size(); ++s) {
    set_grad(a, grads_a[s]);
    if (s != 2) set_grad(b, grads_b[s]);  // step 3: b has no grad and must not move
    opt.step();
    for (size_t i = 0; i < ra.size(); ++i) ra[i].update(grads_a[s][i]);
    if (s != 2)
      for (size_t i = 0; i < rb.size(); ++i) rb[i].update(grads_b[s][i]);
    for (size_t i = 0; i < ra.size(); ++i)
      EXPECT_NEAR(a[static_cast<int64_t>(i)].item<double>(), ra[i].p,
                  2e-7 * (1 + std::fabs(ra[i].p)))
          << "step " << s << " a[" << i << "]";
    for (size_t i = 0; i < rb.size(); ++i)
      EXPECT_NEAR(b[static_cast<int64_t>(i)].item<double>(), rb[i].p,
                  2e-7 * (1 + std::fabs(rb[i].p)))
          << "step " << s << " b[" << i << "]";
    opt.zero_grad();
    EXPECT_FALSE(a.grad().defined());
  }
  EXPECT_EQ(opt.param_step("a"), 4);
  EXPECT_EQ(opt.param_step("b"), 3);
}

TEST(TrainingOptim, AdamWStateRoundTripIsBitExact) {
  auto make = [](at::Tensor& w) {
    ParamGroup g;
    g.name = "all";
    g.params = {{"w", w}};
    g.base_lr = 0.05;
    g.weight_decay = 0.1;
    return AdamW({g});
  };
  at::Tensor w1 = at::randn({4, 3}).requires_grad_(true);
  at::Tensor w2 = w1.detach().clone().requires_grad_(true);
  AdamW o1 = make(w1), o2 = make(w2);
  const at::Tensor g0 = at::randn({4, 3}), g1 = at::randn({4, 3}), g2 = at::randn({4, 3});
  for (const at::Tensor& g : {g0, g1}) {
    w1.mutable_grad() = g.clone();
    o1.step();
  }
  // o2 resumes from o1's saved state and parameters.
  {
    at::NoGradGuard ng;
    w2.copy_(w1);
  }
  o2.load_state(o1.state_tensors(), nlohmann::json::parse(o1.state_json().dump()));
  EXPECT_EQ(o2.param_step("w"), 2);
  w1.mutable_grad() = g2.clone();
  w2.mutable_grad() = g2.clone();
  o1.step();
  o2.step();
  EXPECT_TRUE(at::equal(w1, w2));

  // Mismatched groups are refused with a message.
  at::Tensor other = at::zeros({2}).requires_grad_(true);
  ParamGroup g;
  g.name = "all";
  g.params = {{"v", other}};
  AdamW o3({g});
  EXPECT_TRUE(contains(error_of([&] { o3.load_state(o1.state_tensors(), o1.state_json()); }),
                       "parameter 0 is \"v\""));
  ParamGroup dup;
  dup.name = "dup";
  dup.params = {{"w", w1}};
  EXPECT_TRUE(contains(error_of([&] { AdamW bad({dup, dup}); }), "more than one group"));
}

TEST(TrainingOptim, ClipGradNormLikeTorch) {
  at::Tensor a = param({0, 0}), b = param({0}), c = param({1});
  set_grad(a, {3.0f, 4.0f});
  set_grad(b, {12.0f});
  const double total = clip_grad_norm({a, b, c}, 1.0);  // c has no grad
  EXPECT_NEAR(total, 13.0, 1e-5);
  const double coef = 1.0 / (13.0 + 1e-6);
  EXPECT_NEAR(a.grad()[0].item<double>(), 3 * coef, 1e-7);
  EXPECT_NEAR(b.grad()[0].item<double>(), 12 * coef, 1e-7);
  // Below the limit: unchanged (the coefficient clamps to 1).
  set_grad(a, {0.3f, 0.4f});
  EXPECT_NEAR(clip_grad_norm({a}, 1.0), 0.5, 1e-6);
  EXPECT_FLOAT_EQ(a.grad()[1].item<float>(), 0.4f);
  EXPECT_EQ(clip_grad_norm({c}, 1.0), 0.0);
}

TEST(TrainingOptim, NoWeightDecayRuleOnClipNames) {
  const at::Tensor m2 = at::zeros({4, 4}), m4 = at::zeros({4, 6, 2, 2}), v1 = at::zeros({4}),
                   s0 = at::zeros({});
  // HF CLIPModel names, decided as open_clip decides for the same tensor.
  struct Case {
    const char* name;
    const at::Tensor* t;
    bool no_decay;
  };
  const Case cases[] = {
      {"vision_model.embeddings.patch_embedding.weight", &m4, false},  // open_clip conv1: decayed
      {"vision_model.embeddings.class_embedding", &v1, true},          // 1-D
      {"vision_model.embeddings.position_embedding.weight", &m2, false},  // positional_embedding
      {"vision_model.pre_layrnorm.weight", &v1, true},
      {"vision_model.pre_layrnorm.bias", &v1, true},
      {"vision_model.encoder.layers.0.layer_norm1.weight", &v1, true},
      {"vision_model.encoder.layers.0.layer_norm2.bias", &v1, true},
      {"vision_model.encoder.layers.0.self_attn.q_proj.weight", &m2, false},
      {"vision_model.encoder.layers.0.self_attn.q_proj.bias", &v1, true},
      {"vision_model.encoder.layers.0.mlp.fc1.weight", &m2, false},
      {"vision_model.post_layernorm.weight", &v1, true},
      {"visual_projection.weight", &m2, false},
      {"text_model.embeddings.token_embedding.weight", &m2, false},
      {"logit_scale", &s0, true},
  };
  for (const Case& c : cases)
    EXPECT_EQ(no_weight_decay_hf_clip(c.name, *c.t), c.no_decay) << c.name;
  // The HF -> open_clip name map.
  EXPECT_EQ(open_clip_clip_name("vision_model.embeddings.patch_embedding.weight"),
            "visual.conv1.weight");
  EXPECT_EQ(open_clip_clip_name("vision_model.embeddings.position_embedding.weight"),
            "visual.positional_embedding");
  EXPECT_EQ(open_clip_clip_name("vision_model.encoder.layers.11.self_attn.v_proj.bias"),
            "visual.transformer.resblocks.11.attn.in_proj_bias");
  EXPECT_EQ(open_clip_clip_name("vision_model.encoder.layers.3.mlp.fc2.weight"),
            "visual.transformer.resblocks.3.mlp.c_proj.weight");
  EXPECT_EQ(open_clip_clip_name("visual_projection.weight"), "visual.proj");
  EXPECT_EQ(open_clip_clip_name("text_model.encoder.layers.0.layer_norm1.weight"),
            "transformer.resblocks.0.ln_1.weight");
  EXPECT_EQ(open_clip_clip_name("something.else"), "something.else");
  // The literal open_clip rule (main.py of the EditCLIP repo: no "embedding" term).
  EXPECT_FALSE(open_clip_exclude_from_decay("visual.conv1.weight", m4));
  EXPECT_FALSE(open_clip_exclude_from_decay("visual.positional_embedding", m2));
  EXPECT_TRUE(open_clip_exclude_from_decay("visual.class_embedding", v1));
  EXPECT_TRUE(open_clip_exclude_from_decay("visual.ln_pre.weight", v1));
  EXPECT_FALSE(
      open_clip_exclude_from_decay("visual.transformer.resblocks.0.attn.in_proj_weight", m2));
  EXPECT_TRUE(open_clip_exclude_from_decay("visual.transformer.resblocks.0.attn.in_proj_bias", v1));
  EXPECT_FALSE(open_clip_exclude_from_decay("visual.proj", m2));
  EXPECT_TRUE(open_clip_exclude_from_decay("logit_scale", s0));
  EXPECT_TRUE(open_clip_exclude_from_decay("x.ln_2.weight", m2));  // name rules apply to any ndim
  EXPECT_TRUE(open_clip_exclude_from_decay("x.bn.weight", m2));
}

TEST(TrainingOptim, NoWeightDecayOnEveryClipTensorIsOpenClips) {
  // Every tensor of a real (fixture) CLIPModel: each maps to an open_clip name, and open_clip's
  // decision for CLIP (all biases and norms are 1-D) is "not decayed iff ndim < 2".
  auto model = ClipModel::load(std::string(EDITCLIP_TEST_FIXTURES) + "/models/editclip_a/clip");
  size_t vision = 0, decayed = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    const std::string oc = open_clip_clip_name(name);
    if (name != "logit_scale") EXPECT_NE(oc, name) << name << " has no open_clip name";
    if (name.rfind("vision_model.", 0) == 0) {
      ++vision;
      EXPECT_EQ(oc.rfind("visual.", 0), 0u) << name;
    }
    EXPECT_EQ(no_weight_decay_hf_clip(name, p), p.dim() < 2) << name << " -> " << oc;
    decayed += !no_weight_decay_hf_clip(name, p);
  }
  EXPECT_GT(vision, 10u);
  EXPECT_GT(decayed, 10u);
  EXPECT_FALSE(no_weight_decay_hf_clip(
      "vision_model.embeddings.position_embedding.weight",
      model->named_parameters().at("vision_model.embeddings.position_embedding.weight")));
}

TEST(TrainingOptim, ParamGroupsByRuleAndDecay) {
  NamedParams params = {
      {"vision_model.embeddings.patch_embedding.weight", at::zeros({4, 6, 2, 2}).requires_grad_()},
      {"vision_model.embeddings.patch_embedding.bias", at::zeros({4}).requires_grad_()},
      {"vision_model.encoder.layers.0.mlp.fc1.weight", at::zeros({4, 4}).requires_grad_()},
      {"vision_model.encoder.layers.0.mlp.fc1.bias", at::zeros({4}).requires_grad_()},
      {"text_model.final_layer_norm.weight", at::zeros({4})},  // frozen: left out
      {"logit_scale", at::zeros({}).requires_grad_()},
  };
  GroupHyper hyper;
  hyper.weight_decay = 0.02;
  const auto groups = make_param_groups(
      params, {"default", {}, 2e-6},
      {{"patch", [](const std::string& n) { return n.find("patch_embedding") != n.npos; }, 2e-4}},
      hyper);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0].name, "patch");
  EXPECT_DOUBLE_EQ(groups[0].base_lr, 2e-4);
  EXPECT_DOUBLE_EQ(groups[0].weight_decay, 0.02);
  ASSERT_EQ(groups[0].params.size(), 1u);
  EXPECT_EQ(groups[1].name, "patch_no_decay");
  EXPECT_DOUBLE_EQ(groups[1].weight_decay, 0.0);
  EXPECT_EQ(groups[2].name, "default");
  EXPECT_EQ(groups[2].params.size(), 1u);
  EXPECT_EQ(groups[3].name, "default_no_decay");
  EXPECT_EQ(groups[3].params.size(), 2u);  // fc1.bias, logit_scale
  EXPECT_DOUBLE_EQ(groups[3].base_lr, 2e-6);
}

TEST(TrainingOptim, LearningRateSchedules) {
  LrSchedule cos{LrScheduleKind::Cosine, 10, 110};
  EXPECT_DOUBLE_EQ(cos.lr_at(1.0, 0), 0.1);
  EXPECT_DOUBLE_EQ(cos.lr_at(1.0, 4), 0.5);
  EXPECT_DOUBLE_EQ(cos.lr_at(1.0, 9), 1.0);
  EXPECT_DOUBLE_EQ(cos.lr_at(1.0, 10), 1.0);
  EXPECT_NEAR(cos.lr_at(1.0, 60), 0.5, 1e-15);
  EXPECT_NEAR(cos.lr_at(2.0, 35), 2.0 * 0.5 * (1 + std::cos(M_PI * 25 / 100)), 1e-15);
  EXPECT_NEAR(cos.lr_at(1.0, 110), 0.0, 1e-15);
  LrSchedule warm{LrScheduleKind::ConstantWithWarmup, 5, 0};
  EXPECT_DOUBLE_EQ(warm.lr_at(5e-5, 1), 5e-5 * 2 / 5);
  EXPECT_DOUBLE_EQ(warm.lr_at(5e-5, 5), 5e-5);
  EXPECT_DOUBLE_EQ(warm.lr_at(5e-5, 10000), 5e-5);
  LrSchedule constant{LrScheduleKind::Constant, 5, 0};
  EXPECT_DOUBLE_EQ(constant.lr_at(5e-5, 0), 5e-5);

  // Per-group base learning rates.
  at::Tensor p = at::zeros({2}).requires_grad_(), q = at::zeros({2}).requires_grad_();
  ParamGroup a, b;
  a.name = "patch";
  a.params = {{"p", p}};
  a.base_lr = 2e-4;
  b.name = "rest";
  b.params = {{"q", q}};
  b.base_lr = 2e-6;
  AdamW opt({a, b});
  EXPECT_DOUBLE_EQ(cos.apply(opt, 4), 1e-4);
  EXPECT_DOUBLE_EQ(opt.groups()[1].lr, 1e-6);

  EXPECT_EQ(LrSchedule::from_json(cos.to_json()).total_steps, 110);
  EXPECT_EQ(parse_lr_schedule("const"), LrScheduleKind::ConstantWithWarmup);
  EXPECT_TRUE(contains(error_of([] { parse_lr_schedule("linear"); }), "unknown learning-rate"));
  LrSchedule bad{LrScheduleKind::Cosine, 10, 10};
  EXPECT_TRUE(contains(error_of([&] { bad.lr_at(1.0, 10); }), "must exceed"));
}
