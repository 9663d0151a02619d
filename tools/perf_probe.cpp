// CPU performance probe: times single operations at the shapes of the SD UNet's 32² level and one
// full-size UNet step (3-way guidance batch, random weights) under several compute variants.
// Variants run interleaved in one process, so ratios hold on a machine shared with other jobs;
// each line reports the median and minimum over --reps runs.
//
// Build (not part of CMake; needs a built engine library in BUILD):
//   g++ -O2 -std=gnu++17 -D_GLIBCXX_USE_CXX11_ABI=1 -I. -isystem
//   /usr/include/torch/csrc/api/include \
//     tools/perf_probe.cpp -o BUILD/perf_probe -LBUILD -leditclip -Wl,-rpath,$PWD/BUILD \
//     -Wl,--no-as-needed -ltorch_cpu -lc10 -ltorch
// Run:  BUILD/perf_probe [--ops] [--unet] [--size 256] [--reps 3] [--threads 0]
//         [--variants fp32,bf16,bf16emu,cl] [--only OP-SUBSTRING] [--no-tuning]
//         [--aten-capability X: setenv before the first ATen op] [--config PATH]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/cpu_tuning.h"
#include "engine/core/runtime.h"
#include "engine/core/torch_compat.h"
#include "engine/io/weight_store.h"
#include "models/common/layers.h"
#include "models/unet/attention.h"
#include "models/unet/unet2d_condition.h"
#include "models/unet/unet_config.h"

using namespace editclip;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double min_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
}

struct Timed {
  std::string name;
  std::function<at::Tensor()> run;
  std::function<void()> before;  // switches the variant on (policy, etc.)
  std::vector<double> ms;
  at::Tensor last;
};

// Runs every entry once per repetition, in turn, after one warm-up each.
void run_interleaved(std::vector<Timed>& items, int reps) {
  for (auto& t : items) {
    if (t.before) t.before();
    t.last = t.run();
  }
  for (int r = 0; r < reps; ++r) {
    for (auto& t : items) {
      if (t.before) t.before();
      const auto t0 = Clock::now();
      at::Tensor y = t.run();
      t.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      t.last = y;
    }
  }
  nn::set_compute_policy({});
}

void report(const std::vector<Timed>& items, const char* unit_label) {
  const double base = median(items.front().ms);
  for (const auto& t : items) {
    // Ratio per repetition against the first entry of the same repetition, then the median:
    // robust against load that changes between repetitions.
    std::vector<double> ratios;
    for (size_t i = 0; i < t.ms.size(); ++i) ratios.push_back(t.ms[i] / items.front().ms[i]);
    std::printf("  %-44s median %9.2f %s  min %9.2f  ratio %.3f\n", t.name.c_str(), median(t.ms),
                unit_label, min_of(t.ms), median(ratios));
  }
  (void)base;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

void probe_ops(int reps, const std::string& only) {
  at::manual_seed(0);
  const int64_t b = 3, tokens = 1024, c = 320, heads = 8, hd = 40, ctx_tokens = 257;
  std::vector<Timed> items;

  nn::Linear lin;
  lin.weight = at::randn({c, c}) / std::sqrt(double(c));
  lin.bias = at::randn({c});
  at::Tensor x = at::randn({b, tokens, c});
  items.push_back(
      {"linear 3072x320x320 fp32", [&] { return lin(x); }, [] { nn::set_cpu_matmul_bf16(false); }});
  items.push_back({"linear 3072x320x320 bf16 policy", [&] { return lin(x); },
                   [] { nn::set_cpu_matmul_bf16(true); }});

  at::Tensor q = at::randn({b, tokens, c}), k = at::randn({b, tokens, c}),
             v = at::randn({b, tokens, c});
  at::Tensor kx = at::randn({b, ctx_tokens, c}), vx = at::randn({b, ctx_tokens, c});
  auto split = [&](const at::Tensor& t) {
    return t.view({b, t.size(1), heads, hd}).transpose(1, 2);
  };
  items.push_back(
      {"self-attn 8x1024x40 math (old path)",
       [&] { return compat::detail::attention_math(split(q), split(k), split(v), false); },
       [] { nn::set_cpu_matmul_bf16(false); }});
  items.push_back({"self-attn 8x1024x40 fp32", [&] { return multi_head_attention(q, k, v, heads); },
                   [] { nn::set_cpu_matmul_bf16(false); }});
  items.push_back({"self-attn 8x1024x40 bf16 policy",
                   [&] { return multi_head_attention(q, k, v, heads); },
                   [] { nn::set_cpu_matmul_bf16(true); }});
  items.push_back(
      {"cross-attn 1024x257 math (old path)",
       [&] { return compat::detail::attention_math(split(q), split(kx), split(vx), false); },
       [] { nn::set_cpu_matmul_bf16(false); }});
  items.push_back({"cross-attn 1024x257 fp32",
                   [&] { return multi_head_attention(q, kx, vx, heads); },
                   [] { nn::set_cpu_matmul_bf16(false); }});
  items.push_back({"cross-attn 1024x257 bf16 policy",
                   [&] { return multi_head_attention(q, kx, vx, heads); },
                   [] { nn::set_cpu_matmul_bf16(true); }});

  nn::Conv2d conv;
  conv.weight = at::randn({c, c, 3, 3}) / std::sqrt(9.0 * c);
  conv.bias = at::randn({c});
  conv.padding = 1;
  at::Tensor img = at::randn({b, c, 32, 32});
  at::Tensor img_cl = img.contiguous(at::MemoryFormat::ChannelsLast);
  items.push_back({"conv3x3 320->320 @32² fp32 NCHW", [&] { return conv(img); }, nullptr});
  items.push_back(
      {"conv3x3 320->320 @32² fp32 channels-last", [&] { return conv(img_cl); }, nullptr});
  items.push_back({"conv3x3 320->320 @32² bf16",
                   [&] {
                     return at::conv2d(img.to(at::kBFloat16), conv.weight.to(at::kBFloat16),
                                       conv.bias.to(at::kBFloat16), 1, 1)
                         .to(at::kFloat);
                   },
                   nullptr});

  nn::GroupNorm gn;
  gn.weight = at::ones({c});
  gn.bias = at::zeros({c});
  gn.groups = 32;
  items.push_back({"GroupNorm(32,320)+SiLU fp32", [&] { return at::silu(gn(img)); }, nullptr});
  items.push_back(
      {"GroupNorm(32,320)+SiLU channels-last", [&] { return at::silu(gn(img_cl)); }, nullptr});

  at::Tensor big = at::randn({16 << 20});
  items.push_back({"exp of 16M floats (vector ISA check)", [&] { return at::exp(big); }, nullptr});

  if (!only.empty()) {
    std::vector<Timed> kept;
    for (auto& t : items)
      if (t.name.find(only) != std::string::npos) kept.push_back(std::move(t));
    items = std::move(kept);
    if (items.empty()) return;
  }
  run_interleaved(items, reps);
  std::printf("single ops (ratio: against the first line)\n");
  report(items, "ms");
  if (!only.empty()) return;
  // Accuracy of the policy and the blocked attention at op level.
  nn::set_cpu_matmul_bf16(false);
  const at::Tensor ref_lin = lin(x), ref_att = multi_head_attention(q, k, v, heads);
  const at::Tensor old_att = compat::detail::attention_math(split(q), split(k), split(v), false)
                                 .transpose(1, 2)
                                 .reshape({b, tokens, c});
  nn::set_compute_policy({true, false});
  const at::Tensor bf_lin = lin(x), bf_att = multi_head_attention(q, k, v, heads);
  nn::set_compute_policy({true, true});
  const at::Tensor em_lin = lin(x), em_att = multi_head_attention(q, k, v, heads);
  nn::set_compute_policy({});
  std::printf("  max|diff| blocked vs math attention: %.3g\n", max_abs_diff(ref_att, old_att));
  std::printf("  max|diff| bf16 vs fp32: linear %.3g (max|y| %.3g), self-attn %.3g (max|y| %.3g)\n",
              max_abs_diff(bf_lin, ref_lin), ref_lin.abs().max().item<double>(),
              max_abs_diff(bf_att, ref_att), ref_att.abs().max().item<double>());
  std::printf("  max|diff| emulated oneDNN bf16 vs fp32: linear %.3g, self-attn %.3g\n",
              max_abs_diff(em_lin, ref_lin), max_abs_diff(em_att, ref_att));
}

void probe_unet(const std::string& config_path, int64_t size, int reps,
                const std::vector<std::string>& variants) {
  auto t0 = Clock::now();
  at::manual_seed(0);
  UNet2DConditionConfig config = UNet2DConditionConfig::from_file(config_path);
  WeightStore store("random", WeightStore::Mode::Random);
  UNet2DCondition unet(config, store);
  std::printf("UNet built (random weights) in %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
  const int64_t lat = size / 8;
  at::Tensor sample = at::randn({3, config.in_channels, lat, lat});
  at::Tensor ehs = at::randn({3, 257, config.cross_attention_dim});
  at::Tensor timestep = at::full({}, 500.0);

  std::vector<Timed> items;
  for (const std::string& v : variants) {
    Timed t;
    t.name = "UNet step 3x" + std::to_string(size) + "² " + v;
    // Each variant sets the whole policy, so none inherits another's settings.
    if (v == "fp32") {
      t.before = [] { nn::set_cpu_matmul_bf16(false); };
      t.run = [&] { return unet.forward(sample, timestep, ehs); };
    } else if (v == "bf16") {
      t.before = [] { nn::set_compute_policy({true, false}); };
      t.run = [&] { return unet.forward(sample, timestep, ehs); };
    } else if (v == "bf16emu") {
      t.before = [] { nn::set_compute_policy({true, true}); };
      t.run = [&] { return unet.forward(sample, timestep, ehs); };
    } else if (v == "cl") {
      t.before = [] { nn::set_cpu_matmul_bf16(false); };
      t.run = [&] {
        return unet.forward(sample.contiguous(at::MemoryFormat::ChannelsLast), timestep, ehs)
            .contiguous();
      };
    } else {
      std::fprintf(stderr, "unknown variant '%s' (fp32, bf16, bf16emu, cl)\n", v.c_str());
      std::exit(2);
    }
    items.push_back(std::move(t));
  }
  run_interleaved(items, reps);
  std::printf("UNet (ratio: against the first variant in the same repetition)\n");
  for (auto& t : items)
    for (auto& ms : t.ms) ms /= 1000.0;
  report(items, "s ");
  const at::Tensor& ref = items.front().last;
  for (size_t i = 1; i < items.size(); ++i)
    std::printf("  %s vs %s: max|diff| %.3g, rms diff %.3g (max|ref| %.3g, rms ref %.3g)\n",
                items[i].name.c_str(), items.front().name.c_str(), max_abs_diff(items[i].last, ref),
                (items[i].last.to(at::kFloat) - ref).pow(2).mean().sqrt().item<double>(),
                ref.abs().max().item<double>(), ref.pow(2).mean().sqrt().item<double>());
}

}  // namespace

int main(int argc, char** argv) {
  bool tuning = true;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--no-tuning")) tuning = false;
  if (tuning) maybe_reexec_with_cpu_tuning(argc, argv);

  bool ops = false, unet = false;
  int reps = 3, threads = 0;
  int64_t size = 256;
  std::string config = "models/configs/sd15_ip2p_unet.json", only;
  std::vector<std::string> variants = {"fp32", "bf16"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--ops")
      ops = true;
    else if (a == "--unet")
      unet = true;
    else if (a == "--reps")
      reps = std::stoi(next());
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--size")
      size = std::stoll(next());
    else if (a == "--config")
      config = next();
    else if (a == "--only")
      only = next();
    else if (a == "--aten-capability")
      ::setenv("ATEN_CPU_CAPABILITY", next().c_str(), 1);
    else if (a == "--variants") {
      variants.clear();
      std::stringstream ss(next());
      for (std::string v; std::getline(ss, v, ',');) variants.push_back(v);
    } else if (a == "--no-tuning") {
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (!ops && !unet) ops = unet = true;
  if (tuning) configure_cpu();
  configure_threads(threads);
  at::NoGradGuard no_grad;
  c10::InferenceMode inference;
  std::printf("%s; threads %d; fast bf16: %s\n", cpu_tuning_summary().c_str(),
              at::get_num_threads(), nn::cpu_has_fast_bf16() ? "yes" : "no");
  if (ops) probe_ops(reps, only);
  if (unet) probe_unet(config, size, reps, variants);
  std::printf("%s\n", cpu_tuning_summary().c_str());
  return 0;
}
