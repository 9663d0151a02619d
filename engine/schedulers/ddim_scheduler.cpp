#include "engine/schedulers/ddim_scheduler.h"

#include "engine/core/error.h"

namespace editclip {

DDIMScheduler::DDIMScheduler(SchedulerConfig config)
    : IntegerTimestepScheduler(std::move(config), "DDIMScheduler") {
  final_alpha_cumprod_ =
      config_.set_alpha_to_one ? at::scalar_tensor(1.0, at::kFloat) : alphas_cumprod_[0].clone();
}

Scheduler::StepOutput DDIMScheduler::step(const at::Tensor& model_output, int64_t step_index,
                                          const at::Tensor& sample, at::Generator& generator) {
  check_step_index(step_index, "step");
  const int64_t train = config_.num_train_timesteps;
  const int64_t t = timesteps_[step_index].item<int64_t>();
  const int64_t prev_t = t - train / requested_steps_;
  if (t < 0 || t >= train)
    throw_error(config_.origin, ": DDIMScheduler: timestep ", t,
                " lies outside the training schedule (check steps_offset and timestep_spacing)");

  // Scalars stay float32 0-dim CPU tensors, as in diffusers.
  const at::Tensor alpha_prod_t = alphas_cumprod_[t];
  const at::Tensor alpha_prod_t_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod_;
  const at::Tensor beta_prod_t = 1 - alpha_prod_t;

  at::Tensor pred_original, pred_epsilon;
  const auto& p = config_.prediction_type;
  if (p == "epsilon") {
    pred_original =
        (sample - at::pow(beta_prod_t, 0.5) * model_output) / at::pow(alpha_prod_t, 0.5);
    pred_epsilon = model_output;
  } else if (p == "sample") {
    pred_original = model_output;
    pred_epsilon =
        (sample - at::pow(alpha_prod_t, 0.5) * pred_original) / at::pow(beta_prod_t, 0.5);
  } else {  // v_prediction
    pred_original = at::pow(alpha_prod_t, 0.5) * sample - at::pow(beta_prod_t, 0.5) * model_output;
    pred_epsilon = at::pow(alpha_prod_t, 0.5) * model_output + at::pow(beta_prod_t, 0.5) * sample;
  }

  if (config_.thresholding) {
    pred_original = schedule::threshold_sample(pred_original, config_.dynamic_thresholding_ratio,
                                               config_.sample_max_value);
  } else if (config_.clip_sample) {
    pred_original = pred_original.clamp(-config_.clip_sample_range, config_.clip_sample_range);
  }

  // sigma_t of the DDIM paper (eq. 16), scaled by eta.
  const at::Tensor beta_prod_t_prev = 1 - alpha_prod_t_prev;
  const at::Tensor variance =
      (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev);
  const at::Tensor std_dev_t = eta_ * at::pow(variance, 0.5);

  if (use_clipped_model_output_)
    pred_epsilon =
        (sample - at::pow(alpha_prod_t, 0.5) * pred_original) / at::pow(beta_prod_t, 0.5);

  const at::Tensor direction =
      at::pow(1 - alpha_prod_t_prev - at::pow(std_dev_t, 2), 0.5) * pred_epsilon;
  at::Tensor prev = at::pow(alpha_prod_t_prev, 0.5) * pred_original + direction;

  if (eta_ > 0) {
    const at::Tensor noise = draw_noise(generator, model_output);
    prev = prev + std_dev_t * noise;
  }
  return {prev, pred_original};
}

}  // namespace editclip
