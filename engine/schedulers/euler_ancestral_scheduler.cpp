#include "engine/schedulers/euler_ancestral_scheduler.h"

#include "engine/core/error.h"

namespace editclip {

EulerAncestralDiscreteScheduler::EulerAncestralDiscreteScheduler(SchedulerConfig config)
    : Scheduler(std::move(config)) {
  if (config_.prediction_type != "epsilon" && config_.prediction_type != "v_prediction")
    throw_error(config_.origin, ": EulerAncestralDiscreteScheduler: prediction_type '",
                config_.prediction_type, "' is not supported (use epsilon or v_prediction)");
  schedule::fix_zero_snr_alphas_cumprod(config_, alphas_cumprod_);
  // Before set_timesteps: the full training schedule, as diffusers' constructor leaves it.
  sigmas_ = at::cat({train_sigmas().flip(0), at::zeros({1}, at::kFloat)});
  timesteps_ = at::arange(config_.num_train_timesteps - 1, -1, -1, at::kFloat);
}

at::Tensor EulerAncestralDiscreteScheduler::train_sigmas() const {
  return schedule::train_sigmas(alphas_cumprod_);
}

void EulerAncestralDiscreteScheduler::set_timesteps(int64_t n) {
  check_num_inference_steps(n);
  timesteps_ = schedule::euler_timesteps(config_, n);
  sigmas_ = schedule::interpolated_sigmas(train_sigmas(), timesteps_, 0.0f);
  num_inference_steps_ = timesteps_.size(0);
}

double EulerAncestralDiscreteScheduler::init_noise_sigma() const {
  at::Tensor max_sigma = sigmas_.max();
  if (config_.timestep_spacing == "linspace" || config_.timestep_spacing == "trailing")
    return max_sigma.item<float>();
  return at::pow(at::pow(max_sigma, 2) + 1, 0.5).item<float>();
}

at::Tensor EulerAncestralDiscreteScheduler::scale_model_input(const at::Tensor& sample,
                                                              int64_t step_index) const {
  check_step_index(step_index, "scale_model_input");
  at::Tensor sigma = sigmas_[step_index];
  return sample / at::pow(at::pow(sigma, 2) + 1, 0.5);
}

Scheduler::StepOutput EulerAncestralDiscreteScheduler::step(const at::Tensor& model_output,
                                                            int64_t step_index,
                                                            const at::Tensor& sample_in,
                                                            at::Generator& generator) {
  check_step_index(step_index, "step");
  // All scalar arithmetic stays in float32 0-dim CPU tensors, as in diffusers.
  const at::Tensor sigma = sigmas_[step_index];
  // diffusers upcasts reduced precision to float32 for the update; float64 stays float64.
  const at::Tensor sample =
      sample_in.scalar_type() == at::kDouble ? sample_in : sample_in.to(at::kFloat);

  at::Tensor pred_original;
  if (config_.prediction_type == "epsilon") {
    pred_original = sample - sigma * model_output;
  } else {  // v_prediction
    pred_original = model_output * (-sigma / at::pow(at::pow(sigma, 2) + 1, 0.5)) +
                    (sample / (at::pow(sigma, 2) + 1));
  }

  const at::Tensor sigma_from = sigmas_[step_index];
  const at::Tensor sigma_to = sigmas_[step_index + 1];
  const at::Tensor sigma_up =
      at::pow(at::pow(sigma_to, 2) * (at::pow(sigma_from, 2) - at::pow(sigma_to, 2)) /
                  at::pow(sigma_from, 2),
              0.5);
  const at::Tensor sigma_down = at::pow(at::pow(sigma_to, 2) - at::pow(sigma_up, 2), 0.5);

  const at::Tensor derivative = (sample - pred_original) / sigma;
  const at::Tensor dt = sigma_down - sigma;
  at::Tensor prev = sample + derivative * dt;

  const at::Tensor noise = draw_noise(generator, model_output);
  prev = prev + noise * sigma_up;
  return {prev.to(model_output.scalar_type()), pred_original};
}

}  // namespace editclip
