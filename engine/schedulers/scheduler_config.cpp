#include "engine/schedulers/scheduler_config.h"

#include <algorithm>
#include <fstream>

#include "engine/core/error.h"
#include "models/unet/config_json.h"

namespace editclip {

namespace {

using nlohmann::json;
namespace cj = config_json;

const std::string kEulerAncestral = "EulerAncestralDiscreteScheduler";
const std::string kEulerDiscrete = "EulerDiscreteScheduler";
const std::string kDDIM = "DDIMScheduler";
const std::string kDDPM = "DDPMScheduler";

bool is_euler(const std::string& c) {
  return c == kEulerAncestral || c == kEulerDiscrete;
}

void require_in(const std::string& origin, const std::string& key, const std::string& value,
                const std::vector<std::string>& allowed, const std::string& class_name) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (size_t i = 0; i < allowed.size(); ++i) list += (i ? ", " : "") + allowed[i];
  throw_error(origin, ": field '", key, "' = \"", value, "\" is not supported by ", class_name,
              " (use one of: ", list, ")");
}

}  // namespace

const std::vector<std::string>& SchedulerConfig::supported_classes() {
  static const std::vector<std::string> classes = {kEulerAncestral, kEulerDiscrete, kDDIM, kDDPM};
  return classes;
}

SchedulerConfig SchedulerConfig::defaults(const std::string& class_name) {
  const auto& classes = supported_classes();
  if (std::find(classes.begin(), classes.end(), class_name) == classes.end())
    throw_error("scheduler class '", class_name,
                "' is not supported (use EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, "
                "DDIMScheduler or DDPMScheduler)");
  SchedulerConfig c;
  c.class_name = class_name;
  c.timestep_spacing = is_euler(class_name) ? "linspace" : "leading";
  return c;
}

SchedulerConfig SchedulerConfig::from_json(const json& j, const std::string& origin,
                                           const std::string& as_class) {
  if (!j.is_object()) throw_error(origin, ": not a JSON object");
  std::string class_name = as_class;
  if (class_name.empty()) {
    if (!cj::has(j, "_class_name"))
      throw_error(origin, ": field '_class_name' is missing, so the scheduler type is unknown");
    class_name = cj::get_string(j, origin, "_class_name", "");
  }
  SchedulerConfig c;
  try {
    c = defaults(class_name);
  } catch (const Error& e) {
    throw_error(origin, ": ", e.what());
  }
  c.origin = origin;
  const bool ddim = class_name == kDDIM, ddpm = class_name == kDDPM;

  c.num_train_timesteps = cj::get_int(j, origin, "num_train_timesteps", c.num_train_timesteps);
  if (c.num_train_timesteps < 2)
    throw_error(origin, ": field 'num_train_timesteps' = ", c.num_train_timesteps,
                " must be at least 2");
  c.beta_start = cj::get_double(j, origin, "beta_start", c.beta_start);
  c.beta_end = cj::get_double(j, origin, "beta_end", c.beta_end);
  c.beta_schedule = cj::get_string(j, origin, "beta_schedule", c.beta_schedule);
  c.prediction_type = cj::get_string(j, origin, "prediction_type", c.prediction_type);
  c.timestep_spacing = cj::get_string(j, origin, "timestep_spacing", c.timestep_spacing);
  c.steps_offset = cj::get_int(j, origin, "steps_offset", c.steps_offset);
  c.rescale_betas_zero_snr =
      cj::get_bool(j, origin, "rescale_betas_zero_snr", c.rescale_betas_zero_snr);

  if (cj::has(j, "trained_betas")) {
    const json& v = j.at("trained_betas");
    if (!v.is_array()) cj::bad_type(origin, "trained_betas", v, "a list of numbers or null");
    std::vector<double> betas;
    for (auto& b : v) {
      if (!b.is_number()) cj::bad_type(origin, "trained_betas", v, "a list of numbers or null");
      betas.push_back(b.get<double>());
    }
    // diffusers takes the length of trained_betas as the schedule length but still uses
    // num_train_timesteps for timesteps; a mismatch would index past the schedule.
    if (static_cast<int64_t>(betas.size()) != c.num_train_timesteps)
      throw_error(origin, ": field 'trained_betas' has ", betas.size(),
                  " values but num_train_timesteps is ", c.num_train_timesteps);
    c.trained_betas = std::move(betas);
  } else {
    std::vector<std::string> schedules = {"linear", "scaled_linear", "squaredcos_cap_v2"};
    if (ddpm) schedules.push_back("sigmoid");
    require_in(origin, "beta_schedule", c.beta_schedule, schedules, class_name);
  }

  require_in(origin, "timestep_spacing", c.timestep_spacing, {"linspace", "leading", "trailing"},
             class_name);

  if (class_name == kEulerAncestral) {
    // diffusers raises NotImplementedError for "sample" in this class.
    require_in(origin, "prediction_type", c.prediction_type, {"epsilon", "v_prediction"},
               class_name);
  } else if (class_name == kEulerDiscrete) {
    require_in(origin, "prediction_type", c.prediction_type,
               {"epsilon", "v_prediction", "sample", "original_sample"}, class_name);
    c.interpolation_type = cj::get_string(j, origin, "interpolation_type", c.interpolation_type);
    require_in(origin, "interpolation_type", c.interpolation_type, {"linear"}, class_name);
    if (cj::has(j, "use_karras_sigmas")) {
      c.use_karras_sigmas = cj::get_bool(j, origin, "use_karras_sigmas", false);
      if (c.use_karras_sigmas)
        cj::unsupported(origin, "use_karras_sigmas", true, "Karras sigmas are not implemented");
    }
    c.timestep_type = cj::get_string(j, origin, "timestep_type", c.timestep_type);
    require_in(origin, "timestep_type", c.timestep_type, {"discrete", "continuous"}, class_name);
    // "continuous" only changes anything (EDM-style timesteps) together with v_prediction.
    if (c.timestep_type == "continuous" && c.prediction_type == "v_prediction")
      cj::unsupported(origin, "timestep_type", c.timestep_type,
                      "continuous timesteps with v_prediction are not implemented");
    c.final_sigmas_type = cj::get_string(j, origin, "final_sigmas_type", c.final_sigmas_type);
    require_in(origin, "final_sigmas_type", c.final_sigmas_type, {"zero", "sigma_min"}, class_name);
  } else {
    require_in(origin, "prediction_type", c.prediction_type, {"epsilon", "sample", "v_prediction"},
               class_name);
    c.clip_sample = cj::get_bool(j, origin, "clip_sample", c.clip_sample);
    c.clip_sample_range = cj::get_double(j, origin, "clip_sample_range", c.clip_sample_range);
    c.thresholding = cj::get_bool(j, origin, "thresholding", c.thresholding);
    c.dynamic_thresholding_ratio =
        cj::get_double(j, origin, "dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
    c.sample_max_value = cj::get_double(j, origin, "sample_max_value", c.sample_max_value);
    if (c.thresholding && !(c.dynamic_thresholding_ratio > 0 && c.dynamic_thresholding_ratio <= 1))
      throw_error(origin, ": field 'dynamic_thresholding_ratio' = ", c.dynamic_thresholding_ratio,
                  " must be in (0, 1]");
    if (ddim) c.set_alpha_to_one = cj::get_bool(j, origin, "set_alpha_to_one", c.set_alpha_to_one);
    if (ddpm) {
      c.variance_type = cj::get_string(j, origin, "variance_type", c.variance_type);
      require_in(origin, "variance_type", c.variance_type,
                 {"fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned",
                  "learned_range"},
                 class_name);
    }
  }
  return c;
}

SchedulerConfig SchedulerConfig::from_file(const std::string& path, const std::string& as_class) {
  std::ifstream in(path);
  if (!in)
    throw_error(path, ": cannot open the scheduler config (a scheduler/ folder needs ",
                "scheduler_config.json)");
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    throw_error(path, ": not valid JSON (", first_line(e.what()), ")");
  }
  return from_json(j, path, as_class);
}

}  // namespace editclip
