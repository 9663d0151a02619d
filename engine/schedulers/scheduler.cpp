#include "engine/schedulers/scheduler.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/schedulers/ddim_scheduler.h"
#include "engine/schedulers/ddpm_scheduler.h"
#include "engine/schedulers/euler_ancestral_scheduler.h"
#include "engine/schedulers/euler_discrete_scheduler.h"

namespace editclip {

namespace {

const at::TensorOptions kCpuFloat = at::TensorOptions().dtype(at::kFloat).device(at::kCPU);

// a + b * c without fusing into an FMA, as numpy's generic C loops compute it; a fused result can
// differ in the last bit, which shows up after the float32 casts.
double mul_add_unfused(double a, double b, double c) {
  volatile double product = b * c;
  return a + product;
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config) : config_(std::move(config)) {
  betas_ = schedule::make_betas(config_);
  // 1.0 - betas and a CPU cumprod (which accumulates in double) as diffusers computes them.
  alphas_cumprod_ = at::cumprod(at::rsub(betas_, 1.0), 0);
}

Scheduler::~Scheduler() = default;

void Scheduler::check_num_inference_steps(int64_t n) const {
  if (n < 1 || n > config_.num_train_timesteps)
    throw_error(config_.class_name, ": the number of inference steps (", n,
                ") must be between 1 and num_train_timesteps (", config_.num_train_timesteps, ")");
}

IntegerTimestepScheduler::IntegerTimestepScheduler(SchedulerConfig config, const char* class_name)
    : Scheduler(std::move(config)) {
  const auto& p = config_.prediction_type;
  if (p != "epsilon" && p != "sample" && p != "v_prediction")
    throw_error(config_.origin, ": ", class_name, ": prediction_type '", p,
                "' is not supported (use epsilon, sample or v_prediction)");
  timesteps_ = at::arange(config_.num_train_timesteps - 1, -1, -1, at::kLong);
}

void IntegerTimestepScheduler::set_timesteps(int64_t n) {
  check_num_inference_steps(n);
  timesteps_ = schedule::integer_timesteps(config_, n);
  requested_steps_ = n;
  num_inference_steps_ = timesteps_.size(0);
}

at::Tensor IntegerTimestepScheduler::scale_model_input(const at::Tensor& sample,
                                                       int64_t step_index) const {
  check_step_index(step_index, "scale_model_input");
  return sample;
}

at::Tensor IntegerTimestepScheduler::add_noise(const at::Tensor& original, const at::Tensor& noise,
                                               const at::Tensor& timesteps) const {
  return schedule::add_noise(alphas_cumprod_, original, noise, timesteps);
}

void Scheduler::check_step_index(int64_t step_index, const char* what) const {
  if (num_inference_steps_ == 0)
    throw_error(config_.class_name, ": ", what, " called before set_timesteps()");
  if (step_index < 0 || step_index >= num_inference_steps_)
    throw_error(config_.class_name, ": ", what, " step index ", step_index,
                " is outside the schedule of ", num_inference_steps_, " steps");
}

at::Tensor Scheduler::draw_noise(at::Generator& generator, const at::Tensor& like) {
  if (!generator.defined() || generator.device().type() != at::kCPU)
    throw_error("scheduler step: the random generator must be a CPU generator (draws are made on ",
                "the CPU to match torch.Generator('cpu'))");
  at::Tensor noise = at::randn(like.sizes(), generator, kCpuFloat);
  return noise.to(like.device(), like.scalar_type());
}

std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config) {
  const std::string& c = config.class_name;
  if (c == "EulerAncestralDiscreteScheduler")
    return std::make_unique<EulerAncestralDiscreteScheduler>(config);
  if (c == "EulerDiscreteScheduler") return std::make_unique<EulerDiscreteScheduler>(config);
  if (c == "DDIMScheduler") return std::make_unique<DDIMScheduler>(config);
  if (c == "DDPMScheduler") return std::make_unique<DDPMScheduler>(config);
  throw_error(config.origin.empty() ? std::string("scheduler config") : config.origin,
              ": scheduler class '", c,
              "' is not supported (use EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, "
              "DDIMScheduler or DDPMScheduler)");
}

std::unique_ptr<Scheduler> load_scheduler(const std::string& scheduler_dir,
                                          const std::string& as_class) {
  const auto path = std::filesystem::path(scheduler_dir) / "scheduler_config.json";
  return make_scheduler(SchedulerConfig::from_file(path.string(), as_class));
}

namespace schedule {

at::Tensor rescale_zero_terminal_snr(const at::Tensor& betas) {
  at::Tensor alphas = at::rsub(betas, 1.0);
  at::Tensor alphas_bar_sqrt = at::cumprod(alphas, 0).sqrt();
  at::Tensor first = alphas_bar_sqrt[0].clone();
  at::Tensor last = alphas_bar_sqrt[-1].clone();
  // Shift so the last value is zero, then scale so the first one is unchanged.
  alphas_bar_sqrt.sub_(last);
  alphas_bar_sqrt.mul_(first / (first - last));
  at::Tensor alphas_bar = at::pow(alphas_bar_sqrt, 2);
  const int64_t n = alphas_bar.size(0);
  at::Tensor ratios = alphas_bar.slice(0, 1, n) / alphas_bar.slice(0, 0, n - 1);
  alphas = at::cat({alphas_bar.slice(0, 0, 1), ratios});
  return at::rsub(alphas, 1);
}

at::Tensor make_betas(const SchedulerConfig& c) {
  const int64_t n = c.num_train_timesteps;
  at::Tensor betas;
  if (c.trained_betas) {
    betas = at::tensor(*c.trained_betas, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  } else if (c.beta_schedule == "linear") {
    betas = at::linspace(c.beta_start, c.beta_end, n, kCpuFloat);
  } else if (c.beta_schedule == "scaled_linear") {
    // Python's `x ** 0.5` on floats is C pow(), kept as such for identical endpoints.
    betas = at::pow(
        at::linspace(std::pow(c.beta_start, 0.5), std::pow(c.beta_end, 0.5), n, kCpuFloat), 2);
  } else if (c.beta_schedule == "squaredcos_cap_v2") {
    // Glide's cosine alpha_bar, discretised in Python floats (double), max beta 0.999.
    const double pi = 3.141592653589793;
    auto alpha_bar = [&](double t) {
      return std::pow(std::cos((t + 0.008) / 1.008 * pi / 2), 2.0);
    };
    std::vector<double> values(n);
    for (int64_t i = 0; i < n; ++i) {
      const double t1 = static_cast<double>(i) / static_cast<double>(n);
      const double t2 = static_cast<double>(i + 1) / static_cast<double>(n);
      values[i] = std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999);
    }
    betas = at::tensor(values, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  } else if (c.beta_schedule == "sigmoid") {
    betas =
        at::sigmoid(at::linspace(-6, 6, n, kCpuFloat)) * (c.beta_end - c.beta_start) + c.beta_start;
  } else {
    throw_error(c.origin, ": beta_schedule '", c.beta_schedule, "' is not implemented");
  }
  if (c.rescale_betas_zero_snr) betas = rescale_zero_terminal_snr(betas);
  return betas.contiguous();
}

at::Tensor train_sigmas(const at::Tensor& alphas_cumprod) {
  return at::pow(at::rsub(alphas_cumprod, 1) / alphas_cumprod, 0.5);
}

std::vector<double> np_linspace(double start, double stop, int64_t num) {
  std::vector<double> out(num > 0 ? num : 0);
  if (num <= 0) return out;
  const int64_t div = num - 1;
  const double delta = stop - start;
  if (div > 0) {
    const double step = delta / static_cast<double>(div);
    for (int64_t i = 0; i < num; ++i) {
      if (step == 0) {
        out[i] = mul_add_unfused(start, static_cast<double>(i) / div, delta);
      } else {
        out[i] = mul_add_unfused(start, static_cast<double>(i), step);
      }
    }
    out[num - 1] = stop;  // numpy pins the endpoint
  } else {
    out[0] = mul_add_unfused(start, 0.0, delta);
  }
  return out;
}

std::vector<double> np_arange(double start, double stop, double step) {
  const double length = std::ceil((stop - start) / step);
  if (!(length > 0)) return {};
  const auto n = static_cast<int64_t>(length);
  std::vector<double> out(n);
  // numpy stores start and start + step, then fills the rest as start + i * (second - first).
  out[0] = start;
  if (n > 1) out[1] = start + step;
  const double delta = n > 1 ? out[1] - out[0] : 0.0;
  for (int64_t i = 2; i < n; ++i) out[i] = mul_add_unfused(start, static_cast<double>(i), delta);
  return out;
}

double np_round(double x) {
  return std::nearbyint(x);
}

std::vector<double> np_interp_unit_grid(const std::vector<double>& x,
                                        const std::vector<double>& fp) {
  const int64_t n = static_cast<int64_t>(fp.size());
  if (n == 0) throw_error("interp: empty table");
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (std::isnan(v)) {
      out[i] = v;
    } else if (v < 0) {
      out[i] = fp[0];
    } else if (v >= static_cast<double>(n - 1)) {
      out[i] = fp[n - 1];
    } else {
      const auto j = static_cast<int64_t>(std::floor(v));
      if (static_cast<double>(j) == v) {
        out[i] = fp[j];
      } else {
        // xp[j+1] - xp[j] is 1 on the unit grid.
        const double slope = fp[j + 1] - fp[j];
        out[i] = mul_add_unfused(fp[j], slope, v - static_cast<double>(j));
        if (std::isnan(out[i])) {
          out[i] = mul_add_unfused(fp[j + 1], slope, v - static_cast<double>(j + 1));
          if (std::isnan(out[i]) && fp[j] == fp[j + 1]) out[i] = fp[j];
        }
      }
    }
  }
  return out;
}

std::vector<double> spaced_timesteps(const SchedulerConfig& c, int64_t n, bool round_linspace) {
  const int64_t train = c.num_train_timesteps;
  std::vector<double> t;
  if (c.timestep_spacing == "linspace") {
    t = np_linspace(0, static_cast<double>(train - 1), n);
    if (round_linspace)
      for (auto& v : t) v = np_round(v);
    std::reverse(t.begin(), t.end());
  } else if (c.timestep_spacing == "leading") {
    // Integer step ratio: the values are exact integers before the offset.
    const int64_t ratio = train / n;
    for (int64_t i = n - 1; i >= 0; --i)
      t.push_back(static_cast<double>(i * ratio + c.steps_offset));
  } else if (c.timestep_spacing == "trailing") {
    const double ratio = static_cast<double>(train) / static_cast<double>(n);
    t = np_arange(static_cast<double>(train), 0.0, -ratio);
    for (auto& v : t) v = np_round(v) - 1;
  } else {
    throw_error(c.origin, ": timestep_spacing '", c.timestep_spacing,
                "' is not supported (use linspace, leading or trailing)");
  }
  return t;
}

at::Tensor euler_timesteps(const SchedulerConfig& c, int64_t n) {
  auto values = spaced_timesteps(c, n, /*round_linspace=*/false);
  return at::tensor(values, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
}

at::Tensor interpolated_sigmas(const at::Tensor& train_sigmas, const at::Tensor& timesteps,
                               float final_sigma) {
  at::Tensor fp_t = train_sigmas.to(at::kDouble).contiguous();
  at::Tensor x_t = timesteps.to(at::kDouble).contiguous();
  std::vector<double> fp(fp_t.data_ptr<double>(), fp_t.data_ptr<double>() + fp_t.numel());
  std::vector<double> x(x_t.data_ptr<double>(), x_t.data_ptr<double>() + x_t.numel());
  std::vector<double> sig = np_interp_unit_grid(x, fp);
  sig.push_back(static_cast<double>(final_sigma));
  return at::tensor(sig, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
}

void fix_zero_snr_alphas_cumprod(const SchedulerConfig& c, at::Tensor& alphas_cumprod) {
  if (!c.rescale_betas_zero_snr) return;
  alphas_cumprod = alphas_cumprod.clone();
  alphas_cumprod[-1].fill_(std::ldexp(1.0, -24));
}

namespace {

// Per-item coefficients [B] reshaped to broadcast over `like`'s [B, ...].
at::Tensor broadcast_over(const at::Tensor& values, const at::Tensor& like) {
  at::Tensor v = values.flatten();
  while (v.dim() < like.dim()) v = v.unsqueeze(-1);
  return v;
}

std::pair<at::Tensor, at::Tensor> sqrt_alpha_terms(const at::Tensor& alphas_cumprod,
                                                   const at::Tensor& like,
                                                   const at::Tensor& timesteps) {
  if (!at::isIntegralType(timesteps.scalar_type(), /*includeBool=*/false))
    throw_error("add_noise: timesteps must be an integer tensor, got ", timesteps.scalar_type());
  const int64_t n = alphas_cumprod.size(0);
  at::Tensor t = timesteps.to(at::kCPU, at::kLong).flatten();
  if (t.numel() > 0 && (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() >= n))
    throw_error("add_noise: timesteps must lie in [0, ", n - 1, "]");
  at::Tensor ac = alphas_cumprod.to(like.device()).to(like.scalar_type());
  at::Tensor picked = at::index_select(ac, 0, t.to(like.device()));
  at::Tensor sqrt_alpha = broadcast_over(at::pow(picked, 0.5), like);
  at::Tensor sqrt_one_minus = broadcast_over(at::pow(at::rsub(picked, 1), 0.5), like);
  return {sqrt_alpha, sqrt_one_minus};
}

}  // namespace

at::Tensor add_noise(const at::Tensor& alphas_cumprod, const at::Tensor& original,
                     const at::Tensor& noise, const at::Tensor& timesteps) {
  auto [sqrt_alpha, sqrt_one_minus] = sqrt_alpha_terms(alphas_cumprod, original, timesteps);
  return sqrt_alpha * original + sqrt_one_minus * noise;
}

at::Tensor get_velocity(const at::Tensor& alphas_cumprod, const at::Tensor& sample,
                        const at::Tensor& noise, const at::Tensor& timesteps) {
  auto [sqrt_alpha, sqrt_one_minus] = sqrt_alpha_terms(alphas_cumprod, sample, timesteps);
  return sqrt_alpha * noise - sqrt_one_minus * sample;
}

at::Tensor threshold_sample(const at::Tensor& sample_in, double ratio, double max_value) {
  const auto dtype = sample_in.scalar_type();
  at::Tensor sample = sample_in;
  // quantile needs float32/float64 (and clamp has no CPU half kernel in older releases).
  if (dtype != at::kFloat && dtype != at::kDouble) sample = sample.to(at::kFloat);
  const auto shape = sample.sizes().vec();
  sample = sample.reshape({shape[0], -1});
  at::Tensor s = at::quantile(sample.abs(), ratio, /*dim=*/1, /*keepdim=*/false, "linear");
  // Clamped to at least 1: plain [-1, 1] clipping when the quantile is small.
  s = at::clamp(s, c10::optional<at::Scalar>(1.0), c10::optional<at::Scalar>(max_value))
          .unsqueeze(1);
  sample = at::clamp(sample, -s, s) / s;
  return sample.reshape(shape).to(dtype);
}

at::Tensor integer_timesteps(const SchedulerConfig& c, int64_t n) {
  auto values = spaced_timesteps(c, n, /*round_linspace=*/true);
  std::vector<int64_t> ints(values.size());
  for (size_t i = 0; i < values.size(); ++i) ints[i] = static_cast<int64_t>(values[i]);
  return at::tensor(ints, at::TensorOptions().dtype(at::kLong));
}

}  // namespace schedule

}  // namespace editclip
