// A diffusers scheduler_config.json, read with the defaults of the scheduler class it is loaded
// as. diffusers lets any scheduler class load any scheduler config (fields the class does not know
// are ignored), and the defaults differ per class (timestep_spacing, clip_sample, ...), so the
// class is fixed first and every field is then read the way that class reads it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace editclip {

struct SchedulerConfig {
  std::string origin;      // file (or description) the values came from, for messages
  std::string class_name;  // diffusers class: EulerAncestralDiscreteScheduler, ...

  // Shared by all classes.
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule =
      "linear";  // linear | scaled_linear | squaredcos_cap_v2 | sigmoid (DDPM)
  std::optional<std::vector<double>> trained_betas;
  std::string prediction_type = "epsilon";
  std::string timestep_spacing;  // class default: "linspace" for Euler*, "leading" for DDIM/DDPM
  int64_t steps_offset = 0;
  bool rescale_betas_zero_snr = false;

  // DDIMScheduler / DDPMScheduler.
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  bool set_alpha_to_one = true;  // DDIM only
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  std::string variance_type = "fixed_small";  // DDPM only

  // EulerDiscreteScheduler.
  std::string interpolation_type = "linear";
  bool use_karras_sigmas = false;
  std::string timestep_type = "discrete";
  std::string final_sigmas_type = "zero";  // zero | sigma_min

  // The defaults of `class_name` (an unknown class is an error).
  static SchedulerConfig defaults(const std::string& class_name);
  // `as_class` empty: the class is the file's `_class_name`; otherwise the config is loaded as
  // that class, like `<as_class>.from_pretrained(dir)` in diffusers. Values the class does not
  // implement are refused with a message naming `origin` and the field.
  static SchedulerConfig from_json(const nlohmann::json& j, const std::string& origin,
                                   const std::string& as_class = "");
  static SchedulerConfig from_file(const std::string& path, const std::string& as_class = "");

  // The classes make_scheduler() can build.
  static const std::vector<std::string>& supported_classes();
};

}  // namespace editclip
