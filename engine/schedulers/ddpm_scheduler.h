// diffusers' DDPMScheduler: the training noise schedule (add_noise, as train_ip2p_transfer.py
// uses it) and ancestral DDPM sampling (one randn per step except at t = 0).
#pragma once

#include "engine/schedulers/scheduler.h"

namespace editclip {

class DDPMScheduler : public IntegerTimestepScheduler {
 public:
  explicit DDPMScheduler(SchedulerConfig config);

  StepOutput step(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                  at::Generator& generator) override;

  int64_t num_train_timesteps() const { return config_.num_train_timesteps; }
  // sqrt(ac[t]) * noise - sqrt(1 - ac[t]) * sample (target for prediction_type v_prediction).
  at::Tensor get_velocity(const at::Tensor& sample, const at::Tensor& noise,
                          const at::Tensor& timesteps) const;

 private:
  int64_t previous_timestep(int64_t t) const;
  // diffusers' _get_variance (float32 0-dim, or the predicted variance for "learned*").
  at::Tensor variance(int64_t t, const at::Tensor& predicted_variance) const;
};

}  // namespace editclip
