// diffusers' EulerDiscreteScheduler (linear sigma interpolation, no Karras sigmas). With the
// default s_churn = 0 the step is deterministic, but diffusers still draws one randn per step, so
// this does too: a later consumer of the same generator sees the same numbers.
#pragma once

#include <limits>

#include "engine/schedulers/scheduler.h"

namespace editclip {

class EulerDiscreteScheduler : public Scheduler {
 public:
  explicit EulerDiscreteScheduler(SchedulerConfig config);

  void set_timesteps(int64_t num_inference_steps) override;
  at::Tensor timesteps() const override { return timesteps_; }  // float32
  double init_noise_sigma() const override;
  at::Tensor scale_model_input(const at::Tensor& sample, int64_t step_index) const override;
  StepOutput step(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                  at::Generator& generator) override;

  // The stochastic "churn" options of diffusers' step() (defaults: deterministic Euler).
  struct Churn {
    double s_churn = 0.0;
    double s_tmin = 0.0;
    double s_tmax = std::numeric_limits<double>::infinity();
    double s_noise = 1.0;
  };
  void set_churn(const Churn& churn) { churn_ = churn; }

  at::Tensor sigmas() const { return sigmas_; }  // float32 CPU [num_inference_steps + 1]
  at::Tensor train_sigmas() const;               // float32 CPU [num_train_timesteps]

 private:
  at::Tensor timesteps_, sigmas_;
  Churn churn_;
};

}  // namespace editclip
