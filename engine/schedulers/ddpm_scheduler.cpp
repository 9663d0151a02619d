#include "engine/schedulers/ddpm_scheduler.h"

#include "engine/core/error.h"

namespace editclip {

DDPMScheduler::DDPMScheduler(SchedulerConfig config)
    : IntegerTimestepScheduler(std::move(config), "DDPMScheduler") {}

int64_t DDPMScheduler::previous_timestep(int64_t t) const {
  const int64_t n = requested_steps_ > 0 ? requested_steps_ : config_.num_train_timesteps;
  return t - config_.num_train_timesteps / n;
}

at::Tensor DDPMScheduler::variance(int64_t t, const at::Tensor& predicted_variance) const {
  const int64_t prev_t = previous_timestep(t);
  const at::Tensor alpha_prod_t = alphas_cumprod_[t];
  const at::Tensor alpha_prod_t_prev =
      prev_t >= 0 ? alphas_cumprod_[prev_t] : at::scalar_tensor(1.0, at::kFloat);
  const at::Tensor current_beta_t = 1 - alpha_prod_t / alpha_prod_t_prev;
  // Posterior variance (eq. 7 of the DDPM paper), kept away from 0 for the log variants.
  at::Tensor var = (1 - alpha_prod_t_prev) / (1 - alpha_prod_t) * current_beta_t;
  var = at::clamp(var, c10::optional<at::Scalar>(1e-20), c10::nullopt);

  const auto& type = config_.variance_type;
  if (type == "fixed_small") return var;
  if (type == "fixed_small_log") return at::exp(0.5 * at::log(var));
  if (type == "fixed_large") return current_beta_t;
  if (type == "fixed_large_log") return at::log(current_beta_t);
  if (type == "learned") return predicted_variance;
  // learned_range: the model interpolates between the two log variances.
  const at::Tensor min_log = at::log(var);
  const at::Tensor max_log = at::log(current_beta_t);
  const at::Tensor frac = (predicted_variance + 1) / 2;
  return frac * max_log + (1 - frac) * min_log;
}

Scheduler::StepOutput DDPMScheduler::step(const at::Tensor& model_output_in, int64_t step_index,
                                          const at::Tensor& sample, at::Generator& generator) {
  check_step_index(step_index, "step");
  const int64_t train = config_.num_train_timesteps;
  const int64_t t = timesteps_[step_index].item<int64_t>();
  if (t < 0 || t >= train)
    throw_error(config_.origin, ": DDPMScheduler: timestep ", t,
                " lies outside the training schedule (check steps_offset and timestep_spacing)");
  const int64_t prev_t = previous_timestep(t);
  const auto& vtype = config_.variance_type;

  at::Tensor model_output = model_output_in, predicted_variance;
  if (model_output.size(1) == sample.size(1) * 2 &&
      (vtype == "learned" || vtype == "learned_range")) {
    auto parts = at::split(model_output_in, sample.size(1), 1);
    model_output = parts[0];
    predicted_variance = parts[1];
  } else if (vtype == "learned" || vtype == "learned_range") {
    throw_error(config_.origin, ": DDPMScheduler: variance_type '", vtype,
                "' needs a model output with twice the sample's channels");
  }

  const at::Tensor alpha_prod_t = alphas_cumprod_[t];
  const at::Tensor alpha_prod_t_prev =
      prev_t >= 0 ? alphas_cumprod_[prev_t] : at::scalar_tensor(1.0, at::kFloat);
  const at::Tensor beta_prod_t = 1 - alpha_prod_t;
  const at::Tensor beta_prod_t_prev = 1 - alpha_prod_t_prev;
  const at::Tensor current_alpha_t = alpha_prod_t / alpha_prod_t_prev;
  const at::Tensor current_beta_t = 1 - current_alpha_t;

  at::Tensor pred_original;
  const auto& p = config_.prediction_type;
  if (p == "epsilon") {
    pred_original =
        (sample - at::pow(beta_prod_t, 0.5) * model_output) / at::pow(alpha_prod_t, 0.5);
  } else if (p == "sample") {
    pred_original = model_output;
  } else {  // v_prediction
    pred_original = at::pow(alpha_prod_t, 0.5) * sample - at::pow(beta_prod_t, 0.5) * model_output;
  }

  if (config_.thresholding) {
    pred_original = schedule::threshold_sample(pred_original, config_.dynamic_thresholding_ratio,
                                               config_.sample_max_value);
  } else if (config_.clip_sample) {
    pred_original = pred_original.clamp(-config_.clip_sample_range, config_.clip_sample_range);
  }

  // Mean of the posterior q(x_{t-1} | x_t, x_0) (eq. 7 of the DDPM paper).
  const at::Tensor pred_original_coeff =
      (at::pow(alpha_prod_t_prev, 0.5) * current_beta_t) / beta_prod_t;
  const at::Tensor current_sample_coeff =
      at::pow(current_alpha_t, 0.5) * beta_prod_t_prev / beta_prod_t;
  at::Tensor prev = pred_original_coeff * pred_original + current_sample_coeff * sample;

  if (t > 0) {
    const at::Tensor noise = draw_noise(generator, model_output);
    at::Tensor v = variance(t, predicted_variance);
    if (vtype == "fixed_small_log") {
      prev = prev + v * noise;
    } else if (vtype == "learned_range") {
      prev = prev + at::exp(0.5 * v) * noise;
    } else {
      prev = prev + at::pow(v, 0.5) * noise;
    }
  }
  return {prev, pred_original};
}

at::Tensor DDPMScheduler::get_velocity(const at::Tensor& sample, const at::Tensor& noise,
                                       const at::Tensor& timesteps) const {
  return schedule::get_velocity(alphas_cumprod_, sample, noise, timesteps);
}

}  // namespace editclip
