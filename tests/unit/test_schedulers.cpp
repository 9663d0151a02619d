// Invariants of the diffusers schedulers that the fixture case does not pin down: spacings,
// draw counts, config validation and errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/schedulers/ddim_scheduler.h"
#include "engine/schedulers/ddpm_scheduler.h"
#include "engine/schedulers/euler_ancestral_scheduler.h"
#include "engine/schedulers/euler_discrete_scheduler.h"
#include "engine/schedulers/scheduler.h"

using namespace editclip;
using nlohmann::json;

namespace {

json ip2p_config() {
  return json{{"_class_name", "EulerAncestralDiscreteScheduler"},
              {"beta_end", 0.012},
              {"beta_schedule", "scaled_linear"},
              {"beta_start", 0.00085},
              {"num_train_timesteps", 1000},
              {"prediction_type", "epsilon"},
              {"steps_offset", 1},
              {"trained_betas", nullptr}};
}

std::vector<int64_t> ints(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

std::unique_ptr<Scheduler> make(json j, const std::string& as_class = "") {
  return make_scheduler(SchedulerConfig::from_json(j, "test.json", as_class));
}

}  // namespace

TEST(Schedulers, NumpyHelpers) {
  EXPECT_EQ(schedule::np_round(0.5), 0.0);
  EXPECT_EQ(schedule::np_round(1.5), 2.0);
  EXPECT_EQ(schedule::np_round(2.5), 2.0);
  EXPECT_EQ(schedule::np_round(-0.5), 0.0);
  auto l = schedule::np_linspace(0, 999, 4);
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[1], 333.0);
  EXPECT_EQ(l[3], 999.0);
  EXPECT_EQ(schedule::np_linspace(0, 999, 1), std::vector<double>{0.0});
  auto a = schedule::np_arange(1000, 0, -62.5);
  ASSERT_EQ(a.size(), 16u);
  EXPECT_EQ(a[15], 62.5);
  auto y = schedule::np_interp_unit_grid({-1, 0, 0.25, 2, 5}, {1, 2, 3});
  EXPECT_EQ(y, (std::vector<double>{1, 1, 1.25, 3, 3}));
}

TEST(Schedulers, EulerAncestralTables) {
  auto s = make(ip2p_config());
  EXPECT_EQ(s->class_name(), "EulerAncestralDiscreteScheduler");
  s->set_timesteps(50);
  at::Tensor t = s->timesteps();
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  ASSERT_EQ(t.size(0), 50);
  EXPECT_EQ(t[0].item<float>(), 999.0f);
  EXPECT_EQ(t[49].item<float>(), 0.0f);
  EXPECT_TRUE((t.slice(0, 0, 49) > t.slice(0, 1, 50)).all().item<bool>());  // descending
  auto* ea = dynamic_cast<EulerAncestralDiscreteScheduler*>(s.get());
  ASSERT_NE(ea, nullptr);
  at::Tensor sig = ea->sigmas();
  ASSERT_EQ(sig.size(0), 51);
  EXPECT_EQ(sig[50].item<float>(), 0.0f);
  EXPECT_EQ(s->init_noise_sigma(), static_cast<double>(sig.max().item<float>()));
  // At integer timesteps the interpolation returns the training sigmas themselves.
  EXPECT_EQ(sig[0].item<float>(), ea->train_sigmas()[999].item<float>());
  EXPECT_EQ(s->alphas_cumprod().size(0), 1000);
}

TEST(Schedulers, SpacingsAndOffsets) {
  json j = ip2p_config();
  j["_class_name"] = "DDIMScheduler";
  auto ddim = make(j);  // DDIM default spacing: leading, + steps_offset
  ddim->set_timesteps(50);
  EXPECT_EQ(ddim->timesteps().scalar_type(), at::kLong);
  EXPECT_EQ(ints(ddim->timesteps()).front(), 981);
  EXPECT_EQ(ints(ddim->timesteps()).back(), 1);
  j["timestep_spacing"] = "trailing";
  auto trailing = make(j);
  trailing->set_timesteps(10);
  EXPECT_EQ(ints(trailing->timesteps()),
            (std::vector<int64_t>{999, 899, 799, 699, 599, 499, 399, 299, 199, 99}));
  j["timestep_spacing"] = "linspace";
  auto lin = make(j);
  lin->set_timesteps(4);
  EXPECT_EQ(ints(lin->timesteps()), (std::vector<int64_t>{999, 666, 333, 0}));
  // Euler with "leading": integer timesteps + offset, init sigma sqrt(max^2 + 1).
  json e = ip2p_config();
  e["timestep_spacing"] = "leading";
  auto euler = make(e);
  euler->set_timesteps(50);
  EXPECT_EQ(euler->timesteps()[0].item<float>(), 981.0f);
  auto* ea = dynamic_cast<EulerAncestralDiscreteScheduler*>(euler.get());
  const float m = ea->sigmas().max().item<float>();
  EXPECT_NEAR(euler->init_noise_sigma(), std::sqrt(double(m) * m + 1), 1e-5);
}

TEST(Schedulers, LoadedAsOtherClassUsesThatClassDefaults) {
  auto c = SchedulerConfig::from_json(ip2p_config(), "test.json", "DDPMScheduler");
  EXPECT_EQ(c.class_name, "DDPMScheduler");
  EXPECT_EQ(c.timestep_spacing, "leading");
  EXPECT_TRUE(c.clip_sample);
  EXPECT_EQ(c.variance_type, "fixed_small");
  auto e = SchedulerConfig::from_json(ip2p_config(), "test.json", "EulerDiscreteScheduler");
  EXPECT_EQ(e.timestep_spacing, "linspace");
}

TEST(Schedulers, RandomDrawsPerStep) {
  const std::vector<int64_t> shape = {1, 4, 8, 8};
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  auto count_draws = [&](Scheduler& s, int steps) {
    at::Generator g = make_cpu_generator(7);
    s.set_timesteps(steps);
    at::Tensor x = at::zeros(shape, f32);
    for (int i = 0; i < steps; ++i) x = s.step(at::zeros(shape, f32), i, x, g).prev_sample;
    at::Tensor next = at::randn(shape, g, f32);
    at::Generator ref = make_cpu_generator(7);
    for (int d = 0; d < 10; ++d) {
      if (at::equal(at::randn(shape, ref, f32), next)) return d;
    }
    return -1;
  };
  auto ea = make(ip2p_config());
  EXPECT_EQ(count_draws(*ea, 3), 3);  // one per step, the last included
  auto euler = make(ip2p_config(), "EulerDiscreteScheduler");
  EXPECT_EQ(count_draws(*euler, 3), 3);  // drawn although s_churn = 0
  auto ddim = make(ip2p_config(), "DDIMScheduler");
  EXPECT_EQ(count_draws(*ddim, 3), 0);  // eta = 0
  dynamic_cast<DDIMScheduler&>(*ddim).set_eta(1.0);
  EXPECT_EQ(count_draws(*ddim, 3), 3);
  json no_offset = ip2p_config();
  no_offset["steps_offset"] = 0;
  auto ddpm = make(no_offset, "DDPMScheduler");
  EXPECT_EQ(count_draws(*ddpm, 4), 3);  // none at t = 0 (leading: 750, 500, 250, 0)
}

TEST(Schedulers, EulerLastStepReturnsPredictedOriginal) {
  auto s = make(ip2p_config());
  s->set_timesteps(5);
  at::Generator g = make_cpu_generator(0);
  at::Tensor x = at::randn({1, 4, 2, 2}, g), eps = at::randn({1, 4, 2, 2}, g);
  auto out = s->step(eps, 4, x, g);  // sigma_to = 0: no noise, prev = x0
  EXPECT_TRUE(at::allclose(out.prev_sample, out.pred_original_sample, 1e-6, 1e-6));
}

TEST(Schedulers, AddNoise) {
  auto s = make(ip2p_config(), "DDPMScheduler");
  auto& ddpm = dynamic_cast<DDPMScheduler&>(*s);
  at::Tensor x = at::ones({2, 1, 2, 2}), n = at::zeros({2, 1, 2, 2});
  at::Tensor t = at::tensor(std::vector<int64_t>{0, 999});
  at::Tensor y = ddpm.add_noise(x, n, t);
  at::Tensor ac = ddpm.alphas_cumprod();
  EXPECT_FLOAT_EQ(y[0][0][0][0].item<float>(), std::sqrt(ac[0].item<float>()));
  EXPECT_FLOAT_EQ(y[1][0][0][0].item<float>(), std::sqrt(ac[999].item<float>()));
  EXPECT_THROW(ddpm.add_noise(x, n, at::tensor(std::vector<int64_t>{0, 1000})), Error);
  EXPECT_THROW(ddpm.add_noise(x, n, at::tensor(std::vector<float>{0, 1})), Error);
}

TEST(Schedulers, BadConfigsAreErrors) {
  auto bad = [](json j, const std::string& as_class = "") { return [=] { make(j, as_class); }; };
  json j = ip2p_config();
  j["prediction_type"] = "sample";  // not implemented by diffusers' Euler-A either
  EXPECT_THROW(bad(j)(), Error);
  j = ip2p_config();
  j["use_karras_sigmas"] = true;
  EXPECT_THROW(bad(j, "EulerDiscreteScheduler")(), Error);
  j = ip2p_config();
  j["beta_schedule"] = "quadratic";
  EXPECT_THROW(bad(j)(), Error);
  j = ip2p_config();
  j["timestep_spacing"] = "random";
  EXPECT_THROW(bad(j)(), Error);
  j = ip2p_config();
  j["_class_name"] = "PNDMScheduler";
  EXPECT_THROW(bad(j)(), Error);
  j = ip2p_config();
  j.erase("_class_name");
  EXPECT_THROW(bad(j)(), Error);
  j = ip2p_config();
  j["num_train_timesteps"] = "1000";
  EXPECT_THROW(bad(j)(), Error);
  j = ip2p_config();
  j["trained_betas"] = json::array({0.1, 0.2});  // length != num_train_timesteps
  EXPECT_THROW(bad(j)(), Error);
  EXPECT_THROW(SchedulerConfig::from_file("/nonexistent/scheduler_config.json"), Error);
  // Other class's options are ignored, as diffusers ignores unknown fields.
  j = ip2p_config();
  j["variance_type"] = "no_such_type";
  EXPECT_NO_THROW(bad(j)());
  EXPECT_THROW(bad(j, "DDPMScheduler")(), Error);
}

TEST(Schedulers, MisuseIsAnError) {
  auto s = make(ip2p_config());
  at::Generator g = make_cpu_generator(0);
  at::Tensor x = at::zeros({1, 4, 2, 2});
  EXPECT_THROW(s->step(x, 0, x, g), Error);  // before set_timesteps
  s->set_timesteps(4);
  EXPECT_THROW(s->step(x, 4, x, g), Error);
  EXPECT_THROW(s->scale_model_input(x, -1), Error);
  EXPECT_THROW(s->set_timesteps(0), Error);
  EXPECT_THROW(s->set_timesteps(1001), Error);
}

TEST(Schedulers, OtherBetaSchedules) {
  for (const char* schedule : {"linear", "squaredcos_cap_v2"}) {
    json j = ip2p_config();
    j["beta_schedule"] = schedule;
    j["rescale_betas_zero_snr"] = true;
    auto s = make(j, "DDIMScheduler");
    at::Tensor ac = s->alphas_cumprod();
    EXPECT_TRUE((ac.slice(0, 1) <= ac.slice(0, 0, -1)).all().item<bool>()) << schedule;
    EXPECT_NEAR(ac[-1].item<float>(), 0.0f, 1e-6) << schedule;  // zero terminal SNR
    auto e = make(j, "EulerDiscreteScheduler");
    e->set_timesteps(10);
    EXPECT_TRUE(std::isfinite(e->init_noise_sigma())) << schedule;
  }
}

TEST(Schedulers, LoadsFixtureFolder) {
  const std::string dir = std::string(EDITCLIP_TEST_FIXTURES) + "/models/ip2p_a/scheduler";
  auto s = load_scheduler(dir);
  EXPECT_EQ(s->class_name(), "EulerAncestralDiscreteScheduler");
  EXPECT_EQ(s->config().steps_offset, 1);
  EXPECT_EQ(load_scheduler(dir, "DDPMScheduler")->class_name(), "DDPMScheduler");
}
