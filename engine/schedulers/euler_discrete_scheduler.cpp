#include "engine/schedulers/euler_discrete_scheduler.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"

namespace editclip {

EulerDiscreteScheduler::EulerDiscreteScheduler(SchedulerConfig config)
    : Scheduler(std::move(config)) {
  const auto& p = config_.prediction_type;
  if (p != "epsilon" && p != "v_prediction" && p != "sample" && p != "original_sample")
    throw_error(config_.origin, ": EulerDiscreteScheduler: prediction_type '", p,
                "' is not supported (use epsilon, v_prediction or sample)");
  if (config_.use_karras_sigmas)
    throw_error(config_.origin, ": EulerDiscreteScheduler: use_karras_sigmas is not supported");
  if (config_.interpolation_type != "linear")
    throw_error(config_.origin, ": EulerDiscreteScheduler: interpolation_type '",
                config_.interpolation_type, "' is not supported (use linear)");
  if (config_.final_sigmas_type != "zero" && config_.final_sigmas_type != "sigma_min")
    throw_error(config_.origin, ": EulerDiscreteScheduler: final_sigmas_type '",
                config_.final_sigmas_type, "' is not supported (use zero or sigma_min)");
  if (config_.timestep_type == "continuous" && p == "v_prediction")
    throw_error(config_.origin,
                ": EulerDiscreteScheduler: continuous timesteps with v_prediction are not "
                "supported");
  schedule::fix_zero_snr_alphas_cumprod(config_, alphas_cumprod_);
  sigmas_ = at::cat({train_sigmas().flip(0), at::zeros({1}, at::kFloat)});
  timesteps_ = at::arange(config_.num_train_timesteps - 1, -1, -1, at::kFloat);
}

at::Tensor EulerDiscreteScheduler::train_sigmas() const {
  return schedule::train_sigmas(alphas_cumprod_);
}

void EulerDiscreteScheduler::set_timesteps(int64_t n) {
  check_num_inference_steps(n);
  timesteps_ = schedule::euler_timesteps(config_, n);
  at::Tensor train = train_sigmas();
  const float last = config_.final_sigmas_type == "sigma_min" ? train[0].item<float>() : 0.0f;
  sigmas_ = schedule::interpolated_sigmas(train, timesteps_, last);
  num_inference_steps_ = timesteps_.size(0);
}

double EulerDiscreteScheduler::init_noise_sigma() const {
  at::Tensor max_sigma = sigmas_.max();
  if (config_.timestep_spacing == "linspace" || config_.timestep_spacing == "trailing")
    return max_sigma.item<float>();
  return at::pow(at::pow(max_sigma, 2) + 1, 0.5).item<float>();
}

at::Tensor EulerDiscreteScheduler::scale_model_input(const at::Tensor& sample,
                                                     int64_t step_index) const {
  check_step_index(step_index, "scale_model_input");
  at::Tensor sigma = sigmas_[step_index];
  return sample / at::pow(at::pow(sigma, 2) + 1, 0.5);
}

Scheduler::StepOutput EulerDiscreteScheduler::step(const at::Tensor& model_output,
                                                   int64_t step_index, const at::Tensor& sample_in,
                                                   at::Generator& generator) {
  check_step_index(step_index, "step");
  at::Tensor sample = sample_in.to(at::kFloat);
  const at::Tensor sigma = sigmas_[step_index];
  // torch compares a float32 tensor with Python floats in float32.
  const float sigma_value = sigma.item<float>();
  double gamma = 0.0;
  if (static_cast<float>(churn_.s_tmin) <= sigma_value &&
      sigma_value <= static_cast<float>(churn_.s_tmax))
    gamma =
        std::min(churn_.s_churn / static_cast<double>(sigmas_.size(0) - 1), std::pow(2.0, 0.5) - 1);

  // Drawn whether or not it is used (diffusers does the same).
  const at::Tensor noise = draw_noise(generator, model_output);
  const at::Tensor eps = noise * churn_.s_noise;
  const at::Tensor sigma_hat = sigma * (gamma + 1);
  if (gamma > 0) sample = sample + eps * at::pow(at::pow(sigma_hat, 2) - at::pow(sigma, 2), 0.5);

  at::Tensor pred_original;
  const auto& p = config_.prediction_type;
  if (p == "sample" || p == "original_sample") {
    pred_original = model_output;
  } else if (p == "epsilon") {
    pred_original = sample - sigma_hat * model_output;
  } else {  // v_prediction
    pred_original = model_output * (-sigma / at::pow(at::pow(sigma, 2) + 1, 0.5)) +
                    (sample / (at::pow(sigma, 2) + 1));
  }

  const at::Tensor derivative = (sample - pred_original) / sigma_hat;
  const at::Tensor dt = sigmas_[step_index + 1] - sigma_hat;
  const at::Tensor prev = sample + derivative * dt;
  return {prev.to(model_output.scalar_type()), pred_original};
}

}  // namespace editclip
