// Kind "scheduler": schedule tables and step sequences of the diffusers schedulers.
//
// Everything is derived from the case: step counts from tensor names (<family>timesteps_<n>),
// sequence prefixes from the model outputs present (<p>model_output_<i>), the config each
// scheduler is loaded from (and the class it is loaded as) from case.json "scheduler_configs",
// sizes, seed and eta from "params". The random draws are regenerated from the seed; the stored
// initial noise must equal the first draw.
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/schedulers/ddim_scheduler.h"
#include "engine/schedulers/ddpm_scheduler.h"
#include "engine/schedulers/euler_ancestral_scheduler.h"
#include "engine/schedulers/euler_discrete_scheduler.h"
#include "engine/schedulers/scheduler.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One scheduler kind of the case: the key used in "scheduler_configs"/params, the diffusers class,
// the folder it is read from when the case does not say, the table-name family and the sequence
// prefix.
struct Kind {
  std::string key, class_name, default_config, family, prefix, steps_param;
};

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {
      {"euler_ancestral", "EulerAncestralDiscreteScheduler", "scheduler/scheduler_config.json",
       "euler_a_", "ea_", "sequence_steps_euler"},
      {"euler_discrete", "EulerDiscreteScheduler", "scheduler/scheduler_config.json", "euler_",
       "e_", "sequence_steps_euler_discrete"},
      {"ddim", "DDIMScheduler", "scheduler_ddim/scheduler_config.json", "ddim_", "ddim_",
       "sequence_steps_ddim"},
      {"ddpm", "DDPMScheduler", "scheduler/scheduler_config.json", "ddpm_", "ddpm_",
       "sequence_steps_ddpm"},
  };
  return k;
}

class SchedulerCase {
 public:
  explicit SchedulerCase(ParityCase& c) : c_(c) {}

  void run() {
    check_training_tables();
    for (const auto& k : kinds()) check_step_tables(k);
    for (const auto& k : kinds()) run_sequence(k);
    check_add_noise();
  }

 private:
  // The config file of `k`: "scheduler_configs"[key] is "<relative path>[ (note)]".
  std::string config_path(const Kind& k) const {
    std::string rel = k.default_config;
    const auto& spec = c_.spec();
    if (spec.contains("scheduler_configs") && spec["scheduler_configs"].contains(k.key)) {
      std::istringstream words(spec["scheduler_configs"][k.key].get<std::string>());
      words >> rel;
    }
    return (c_.model_dir_or_first("ip2p") / rel).string();
  }

  // A fresh scheduler of kind `k` (sequences and tables must not share step state).
  std::unique_ptr<Scheduler> make(const Kind& k) const {
    auto s = make_scheduler(SchedulerConfig::from_file(config_path(k), k.class_name));
    if (auto* ddim = dynamic_cast<DDIMScheduler*>(s.get()))
      ddim->set_eta(c_.params().value("ddim_eta", 0.0));
    return s;
  }

  void check_if_expected(const std::string& name, const at::Tensor& t) {
    if (c_.has_expected(name)) c_.check(name, t);
  }

  static at::Tensor sigmas_of(const Scheduler& s) {
    if (auto* ea = dynamic_cast<const EulerAncestralDiscreteScheduler*>(&s)) return ea->sigmas();
    if (auto* e = dynamic_cast<const EulerDiscreteScheduler*>(&s)) return e->sigmas();
    return {};
  }

  void check_training_tables() {
    if (!c_.has_expected("alphas_cumprod") && !c_.has_expected("train_sigmas")) return;
    const Kind& k = kinds()[0];  // the pipeline's scheduler (all share the training betas)
    auto s = make(k);
    check_if_expected("alphas_cumprod", s->alphas_cumprod());
    check_if_expected("train_sigmas", schedule::train_sigmas(s->alphas_cumprod()));
  }

  void check_step_tables(const Kind& k) {
    std::set<int> counts;
    for (const char* what : {"timesteps_", "sigmas_", "init_noise_sigma_"})
      for (int n : indexed_names(c_, k.family + what)) counts.insert(n);
    for (int n : counts) {
      auto s = make(k);
      s->set_timesteps(n);
      const std::string suffix = std::to_string(n);
      check_if_expected(k.family + "timesteps_" + suffix, s->timesteps());
      check_if_expected(k.family + "sigmas_" + suffix, sigmas_of(*s));
      check_if_expected(k.family + "init_noise_sigma_" + suffix,
                        at::scalar_tensor(s->init_noise_sigma(), at::kFloat));
    }
  }

  std::vector<int64_t> latent_shape(const Kind& k) const {
    const auto& p = c_.params();
    if (p.contains("latent_shape")) return p["latent_shape"].get<std::vector<int64_t>>();
    if (c_.has_input(k.prefix + "initial_noise"))
      return c_.input(k.prefix + "initial_noise").sizes().vec();
    return c_.input(k.prefix + "model_output_0").sizes().vec();
  }

  int draws_per_step(const Kind& k) const {
    const auto& spec = c_.spec();
    const std::string stream = k.prefix.substr(0, k.prefix.size() - 1);
    if (spec.contains("random_streams") && spec["random_streams"].contains(stream))
      return spec["random_streams"][stream].value("draws_per_step", -1);
    return -1;
  }

  void run_sequence(const Kind& k) {
    const auto& p = c_.params();
    const std::vector<int> outputs = indexed_names(c_, k.prefix + "model_output_");
    if (outputs.empty()) return;
    const int64_t steps = p.value(k.steps_param, static_cast<int64_t>(outputs.size()));
    const uint64_t seed = p.value("seed", static_cast<uint64_t>(0));
    const auto shape = latent_shape(k);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);

    auto s = make(k);
    s->set_timesteps(steps);
    check_if_expected(k.prefix + "timesteps", s->timesteps());

    at::Generator gen = make_cpu_generator(seed);
    at::Tensor noise = at::randn(shape, gen, f32);
    if (c_.has_input(k.prefix + "initial_noise") &&
        !at::equal(noise, c_.input(k.prefix + "initial_noise")))
      c_.fail(concat(k.prefix, "initial_noise: the first draw of the CPU generator seeded ", seed,
                     " differs from the stored tensor (generator not torch-compatible)"));
    at::Tensor latents = noise * s->init_noise_sigma();
    check_if_expected(k.prefix + "initial_latents", latents);

    for (int i : outputs) {
      if (i >= s->num_inference_steps()) {
        c_.fail(concat(k.prefix, "model_output_", i, ": beyond the ", s->num_inference_steps(),
                       "-step schedule"));
        return;
      }
      const std::string idx = std::to_string(i);
      check_if_expected(k.prefix + "scaled_input_" + idx, s->scale_model_input(latents, i));
      auto out = s->step(c_.input(k.prefix + "model_output_" + idx), i, latents, gen);
      check_if_expected(k.prefix + "prev_sample_" + idx, out.prev_sample);
      check_if_expected(k.prefix + "pred_original_" + idx, out.pred_original_sample);
      latents = out.prev_sample;
    }

    // The recorded step draws, regenerated: draw j + 1 of a generator with the same seed.
    const std::vector<int> draws = indexed_names(c_, k.prefix + "step_noise_");
    at::Generator replay = make_cpu_generator(seed);
    at::randn(shape, replay, f32);  // the initial noise
    int next = 0;
    for (int j : draws) {
      at::Tensor t;
      for (; next <= j; ++next) t = at::randn(shape, replay, f32);
      c_.check(k.prefix + "step_noise_" + std::to_string(j), t);
    }

    // The steps must have consumed exactly draws_per_step draws each: the next number of the
    // sequence generator equals the one after 1 + steps * draws_per_step draws.
    const int per_step = draws_per_step(k);
    if (per_step >= 0) {
      at::Generator expected = make_cpu_generator(seed);
      for (size_t d = 0; d < 1 + outputs.size() * per_step; ++d) at::randn(shape, expected, f32);
      if (!at::equal(at::randn(shape, gen, f32), at::randn(shape, expected, f32)))
        c_.fail(concat(k.prefix, "steps: the scheduler did not draw ", per_step,
                       " random tensor(s) per step like diffusers"));
    }
  }

  void check_add_noise() {
    if (!c_.has_expected("ddpm_noisy")) return;
    const Kind& k = kinds()[3];
    auto s = make(k);
    auto* ddpm = dynamic_cast<DDPMScheduler*>(s.get());
    c_.check("ddpm_noisy", ddpm->add_noise(c_.input("ddpm_original"), c_.input("ddpm_noise"),
                                           c_.input("ddpm_timesteps")));
  }

  ParityCase& c_;
};

void check_scheduler(ParityCase& c) {
  SchedulerCase(c).run();
}

}  // namespace

EDITCLIP_PARITY_KIND("scheduler", check_scheduler);

}  // namespace editclip::parity
