// diffusers' DDPMScheduler: the training noise schedule (add_noise, as train_ip2p_transfer.py
// uses it) and ancestral DDPM sampling (one randn per step except at t = 0).
#pragma once

#include "engine/schedulers/scheduler.h"

namespace editclip {

class DDPMScheduler : public Scheduler {
 public:
  explicit DDPMScheduler(SchedulerConfig config);

  void set_timesteps(int64_t num_inference_steps) override;
  at::Tensor timesteps() const override { return timesteps_; }  // int64
  double init_noise_sigma() const override { return 1.0; }
  at::Tensor scale_model_input(const at::Tensor& sample, int64_t step_index) const override;
  StepOutput step(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                  at::Generator& generator) override;

  int64_t num_train_timesteps() const { return config_.num_train_timesteps; }
  // sqrt(ac[t]) * original + sqrt(1 - ac[t]) * noise; `timesteps` int64 [B].
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise,
                       const at::Tensor& timesteps) const;
  // sqrt(ac[t]) * noise - sqrt(1 - ac[t]) * sample (target for prediction_type v_prediction).
  at::Tensor get_velocity(const at::Tensor& sample, const at::Tensor& noise,
                          const at::Tensor& timesteps) const;

 private:
  int64_t previous_timestep(int64_t t) const;
  // diffusers' _get_variance (float32 0-dim, or the predicted variance for "learned*").
  at::Tensor variance(int64_t t, const at::Tensor& predicted_variance) const;

  at::Tensor timesteps_;
  int64_t requested_steps_ = 0;
};

}  // namespace editclip
