// Diffusion schedulers that reproduce diffusers 0.30.3 for the same scheduler_config.json:
// the same timesteps (exactly), sigmas, step arithmetic (float32 0-dim tensors, as torch does)
// and the same sequence of random draws from a CPU generator.
//
// The schedule tables are built on the CPU with the same ATen ops torch uses (linspace, pow,
// cumprod, ...); the few numpy steps of diffusers (linspace/arange in float64, round half to even,
// interp) are re-done in double precision with numpy's formulas so that the results match bit
// for bit, not only within a tolerance.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/schedulers/scheduler_config.h"

namespace editclip {

class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig config);
  virtual ~Scheduler();

  const SchedulerConfig& config() const { return config_; }
  const std::string& class_name() const { return config_.class_name; }

  // Builds the inference schedule; 1 <= num_inference_steps <= num_train_timesteps.
  virtual void set_timesteps(int64_t num_inference_steps) = 0;
  int64_t num_inference_steps() const { return num_inference_steps_; }  // 0 before set_timesteps
  // CPU tensor, dtype as diffusers: float32 for Euler*, int64 for DDIM/DDPM.
  virtual at::Tensor timesteps() const = 0;
  // Standard deviation of the initial noise (latents = noise * init_noise_sigma).
  virtual double init_noise_sigma() const = 0;
  // Input scaling of the model at step `step_index` (index into timesteps()).
  virtual at::Tensor scale_model_input(const at::Tensor& sample, int64_t step_index) const = 0;

  struct StepOutput {
    at::Tensor prev_sample, pred_original_sample;
  };
  // One denoising step at timesteps()[step_index]. `generator` must be a CPU generator: random
  // draws are made on the CPU in float32 with diffusers' shapes and call order, then moved to the
  // model output's device and dtype.
  virtual StepOutput step(const at::Tensor& model_output, int64_t step_index,
                          const at::Tensor& sample, at::Generator& generator) = 0;

  // Training schedule, float32 CPU [num_train_timesteps].
  virtual at::Tensor betas() const { return betas_; }
  virtual at::Tensor alphas_cumprod() const { return alphas_cumprod_; }

 protected:
  // Throws unless set_timesteps() was called and 0 <= step_index < num_inference_steps().
  void check_step_index(int64_t step_index, const char* what) const;
  void check_num_inference_steps(int64_t num_inference_steps) const;
  // torch.randn(like.shape, generator) on the CPU in float32, moved to like's device and dtype.
  static at::Tensor draw_noise(at::Generator& generator, const at::Tensor& like);

  SchedulerConfig config_;
  at::Tensor betas_, alphas_cumprod_;  // float32, CPU
  int64_t num_inference_steps_ = 0;
};

// DDIM and DDPM: integer timesteps from the config's spacing, an unscaled model input, unit
// initial noise and the training add_noise; only step() differs.
class IntegerTimestepScheduler : public Scheduler {
 public:
  void set_timesteps(int64_t num_inference_steps) override;
  at::Tensor timesteps() const override { return timesteps_; }  // int64
  double init_noise_sigma() const override { return 1.0; }
  at::Tensor scale_model_input(const at::Tensor& sample, int64_t step_index) const override;

  // sqrt(ac[t]) * original + sqrt(1 - ac[t]) * noise; `timesteps` int64 [B].
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise,
                       const at::Tensor& timesteps) const;

 protected:
  // Refuses a prediction_type other than epsilon, sample or v_prediction, naming `class_name`.
  IntegerTimestepScheduler(SchedulerConfig config, const char* class_name);

  at::Tensor timesteps_;
  int64_t requested_steps_ = 0;  // diffusers' num_inference_steps (the step ratio uses it)
};

// Builds the scheduler named by config.class_name.
std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config);
// Reads `scheduler_dir`/scheduler_config.json; `as_class` as in SchedulerConfig::from_json.
std::unique_ptr<Scheduler> load_scheduler(const std::string& scheduler_dir,
                                          const std::string& as_class = "");

// The numerics shared by the schedulers, exposed for tests.
namespace schedule {

// float32 betas of the config (trained_betas, linear, scaled_linear, squaredcos_cap_v2, sigmoid),
// rescaled to zero terminal SNR when the config asks for it.
at::Tensor make_betas(const SchedulerConfig& config);
at::Tensor rescale_zero_terminal_snr(const at::Tensor& betas);
// ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 in float32 (ascending in t).
at::Tensor train_sigmas(const at::Tensor& alphas_cumprod);

// numpy equivalents (float64).
std::vector<double> np_linspace(double start, double stop, int64_t num);
std::vector<double> np_arange(double start, double stop, double step);
double np_round(double x);  // round half to even
// np.interp(x, arange(len(fp)), fp).
std::vector<double> np_interp_unit_grid(const std::vector<double>& x,
                                        const std::vector<double>& fp);

// float32 timesteps of the Euler schedulers (the float64 spacing cast to float32).
at::Tensor euler_timesteps(const SchedulerConfig& config, int64_t num_inference_steps);
// Euler sigma schedule: `train_sigmas` interpolated (in float64, like np.interp) at the float32
// `timesteps`, cast to float32, with `final_sigma` appended -> float32 [n + 1].
at::Tensor interpolated_sigmas(const at::Tensor& train_sigmas, const at::Tensor& timesteps,
                               float final_sigma);
// Euler alphas_cumprod: with rescale_betas_zero_snr the last value is set to 2**-24 so that the
// first sigma stays finite.
void fix_zero_snr_alphas_cumprod(const SchedulerConfig& config, at::Tensor& alphas_cumprod);

// DDIM/DDPM add_noise: sqrt(ac[t]) * original + sqrt(1 - ac[t]) * noise, computed on the
// samples' device and in their dtype; `timesteps` is an integer tensor (one per batch item).
at::Tensor add_noise(const at::Tensor& alphas_cumprod, const at::Tensor& original,
                     const at::Tensor& noise, const at::Tensor& timesteps);
// sqrt(ac[t]) * noise - sqrt(1 - ac[t]) * sample (the v-prediction target).
at::Tensor get_velocity(const at::Tensor& alphas_cumprod, const at::Tensor& sample,
                        const at::Tensor& noise, const at::Tensor& timesteps);
// Imagen's dynamic thresholding of a predicted x0 (DDIM/DDPM `thresholding`).
at::Tensor threshold_sample(const at::Tensor& sample, double ratio, double max_value);
// DDIM/DDPM integer timesteps: the spacing, rounded, as int64.
at::Tensor integer_timesteps(const SchedulerConfig& config, int64_t num_inference_steps);

// diffusers' timestep spacings ("linspace" | "leading" | "trailing") as float64 values in
// descending order, before the class's cast. `round_linspace`: DDIM/DDPM round the linspace
// values, the Euler schedulers keep them fractional.
std::vector<double> spaced_timesteps(const SchedulerConfig& config, int64_t num_inference_steps,
                                     bool round_linspace);

}  // namespace schedule

}  // namespace editclip
