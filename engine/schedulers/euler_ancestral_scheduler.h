// diffusers' EulerAncestralDiscreteScheduler (the InstructPix2Pix default): Euler steps on the
// k-diffusion sigma parametrisation with fresh noise each step (one randn per step, the last
// step included, where sigma_up is 0 and the draw only advances the generator).
#pragma once

#include "engine/schedulers/scheduler.h"

namespace editclip {

class EulerAncestralDiscreteScheduler : public Scheduler {
 public:
  explicit EulerAncestralDiscreteScheduler(SchedulerConfig config);

  void set_timesteps(int64_t num_inference_steps) override;
  at::Tensor timesteps() const override { return timesteps_; }  // float32
  double init_noise_sigma() const override;
  at::Tensor scale_model_input(const at::Tensor& sample, int64_t step_index) const override;
  StepOutput step(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                  at::Generator& generator) override;

  // float32 CPU [num_inference_steps + 1]: sigmas at the timesteps, then 0.
  at::Tensor sigmas() const { return sigmas_; }
  // float32 CPU [num_train_timesteps]: ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5.
  at::Tensor train_sigmas() const;

 private:
  at::Tensor timesteps_, sigmas_;
};

}  // namespace editclip
