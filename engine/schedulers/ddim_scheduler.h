// diffusers' DDIMScheduler: deterministic for eta = 0 (no random draw at all); eta > 0 adds
// one randn per step.
#pragma once

#include "engine/schedulers/scheduler.h"

namespace editclip {

class DDIMScheduler : public IntegerTimestepScheduler {
 public:
  explicit DDIMScheduler(SchedulerConfig config);

  StepOutput step(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                  at::Generator& generator) override;

  // The step() arguments of diffusers that are not part of the config.
  void set_eta(double eta) { eta_ = eta; }
  double eta() const { return eta_; }
  void set_use_clipped_model_output(bool use) { use_clipped_model_output_ = use; }

  // alphas_cumprod of the step after the last one: 1 with set_alpha_to_one, else ac[0].
  at::Tensor final_alpha_cumprod() const { return final_alpha_cumprod_; }

 private:
  at::Tensor final_alpha_cumprod_;
  double eta_ = 0.0;
  bool use_clipped_model_output_ = false;
};

}  // namespace editclip
