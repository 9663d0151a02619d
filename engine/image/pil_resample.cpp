#include "engine/image/pil_resample.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "engine/core/error.h"

// Every rounding of the reference is reproduced operation by operation; fused multiply-adds (the
// default contraction on targets that have FMA) would round differently.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace editclip {
namespace {

constexpr double kPi = 3.14159265358979323846;
// 8 bits of result and 2 bits of headroom (filters have negative lobes) in a 32-bit accumulator.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Filter {
  double (*weight)(double);
  double support;
};

double box_weight(double x) {
  return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

double bilinear_weight(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_weight(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * kPi;
  // PIL spells the window constants as floats; keep their float values.
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));
}

double bicubic_weight(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * kPi;
  return std::sin(x) / x;
}

double lanczos_weight(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

Filter filter_of(PilFilter f) {
  switch (f) {
    case PilFilter::Box:
      return {box_weight, 0.5};
    case PilFilter::Bilinear:
      return {bilinear_weight, 1.0};
    case PilFilter::Hamming:
      return {hamming_weight, 1.0};
    case PilFilter::Bicubic:
      return {bicubic_weight, 2.0};
    case PilFilter::Lanczos:
      return {lanczos_weight, 3.0};
    case PilFilter::Nearest:
      break;
  }
  throw_error("pil_resize: filter ", pil_filter_name(f), " has no convolution kernel");
}

// Per output sample: the first input index, the number of taps, and `ksize` weights (zero-padded).
struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<double> weights;  // [out_size * ksize]
};

// The box is [in0, in1) in input coordinates; PIL passes it as floats, so the span is a float.
Coefficients precompute(int in_size, float in0, float in1, int out_size, const Filter& filter) {
  Coefficients c;
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double inv = 1.0 / filterscale;
    // Truncation toward zero is PIL's rounding here (the +0.5 makes it round for positives).
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter.weight((x + xmin - center + 0.5) * inv);
      k[x] = w;
      total += w;
    }
    if (total != 0.0)
      for (int x = 0; x < xmax; ++x) k[x] /= total;
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

std::vector<int32_t> to_fixed_point(const std::vector<double>& weights) {
  std::vector<int32_t> out(weights.size());
  const double one = static_cast<double>(1 << kPrecisionBits);
  for (size_t i = 0; i < weights.size(); ++i)
    out[i] = weights[i] < 0 ? static_cast<int32_t>(-0.5 + weights[i] * one)
                            : static_cast<int32_t>(0.5 + weights[i] * one);
  return out;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift: floor for negative sums
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Rows [row0, row0 + out_rows) of `src` [H, W_in, C] -> dst [out_rows, W_out, C].
void horizontal_u8(const uint8_t* src, int64_t w_in, int64_t channels, int64_t row0,
                   int64_t out_rows, const Coefficients& c, uint8_t* dst, int64_t w_out) {
  const std::vector<int32_t> kk = to_fixed_point(c.weights);
  at::parallel_for(0, out_rows, 8, [&](int64_t begin, int64_t end) {
    for (int64_t yy = begin; yy < end; ++yy) {
      const uint8_t* in_row = src + (row0 + yy) * w_in * channels;
      uint8_t* out_row = dst + yy * w_out * channels;
      for (int64_t xx = 0; xx < w_out; ++xx) {
        const int32_t* k = &kk[static_cast<size_t>(xx) * c.ksize];
        const uint8_t* in = in_row + static_cast<int64_t>(c.first[xx]) * channels;
        const int n = c.count[xx];
        for (int64_t ch = 0; ch < channels; ++ch) {
          int32_t acc = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < n; ++x) acc += static_cast<int32_t>(in[x * channels + ch]) * k[x];
          out_row[xx * channels + ch] = clip8(acc);
        }
      }
    }
  });
}

// src [H_in, W, C] -> dst [H_out, W, C]; `c.first` already relative to src's first row.
void vertical_u8(const uint8_t* src, int64_t row_len, const Coefficients& c, uint8_t* dst,
                 int64_t h_out) {
  const std::vector<int32_t> kk = to_fixed_point(c.weights);
  at::parallel_for(0, h_out, 8, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> acc(static_cast<size_t>(row_len));
    for (int64_t yy = begin; yy < end; ++yy) {
      const int32_t* k = &kk[static_cast<size_t>(yy) * c.ksize];
      std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
      // Integer sums are exact, so accumulating row by row equals PIL's per-pixel loop.
      for (int y = 0; y < c.count[yy]; ++y) {
        const uint8_t* in = src + (static_cast<int64_t>(c.first[yy]) + y) * row_len;
        const int32_t w = k[y];
        for (int64_t i = 0; i < row_len; ++i) acc[i] += static_cast<int32_t>(in[i]) * w;
      }
      uint8_t* out = dst + yy * row_len;
      for (int64_t i = 0; i < row_len; ++i) out[i] = clip8(acc[i]);
    }
  });
}

// Float ("F" mode) passes on one channel plane: double accumulation in tap order, float result.
void horizontal_f32(const float* src, int64_t w_in, int64_t row0, int64_t out_rows,
                    const Coefficients& c, float* dst, int64_t w_out) {
  for (int64_t yy = 0; yy < out_rows; ++yy) {
    const float* in_row = src + (row0 + yy) * w_in;
    for (int64_t xx = 0; xx < w_out; ++xx) {
      const double* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      const float* in = in_row + c.first[xx];
      double ss = 0.0;
      for (int x = 0; x < c.count[xx]; ++x) ss += in[x] * k[x];
      dst[yy * w_out + xx] = static_cast<float>(ss);
    }
  }
}

void vertical_f32(const float* src, int64_t w, const Coefficients& c, float* dst, int64_t h_out) {
  for (int64_t yy = 0; yy < h_out; ++yy) {
    const double* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    for (int64_t xx = 0; xx < w; ++xx) {
      double ss = 0.0;
      for (int y = 0; y < c.count[yy]; ++y)
        ss += src[(static_cast<int64_t>(c.first[yy]) + y) * w + xx] * k[y];
      dst[yy * w + xx] = static_cast<float>(ss);
    }
  }
}

// Nearest neighbour: PIL's affine "scale" transform, whose source positions are accumulated in
// double (so rounding drift is part of the result). -1 marks a position outside the source.
std::vector<int> nearest_positions(int64_t in_size, int64_t out_size) {
  const double step = static_cast<double>(static_cast<float>(in_size)) / out_size;
  double pos = 0.0 + step * 0.5;
  std::vector<int> out(static_cast<size_t>(out_size));
  for (int64_t i = 0; i < out_size; ++i) {
    const int p = pos < 0.0 ? -1 : static_cast<int>(pos);
    out[i] = (p >= 0 && p < in_size) ? p : -1;
    pos += step;
  }
  return out;
}

void check_sizes(const char* what, int64_t in_w, int64_t in_h, int64_t out_w, int64_t out_h) {
  if (out_w < 1 || out_h < 1)
    throw_error(what, ": output size ", out_w, "x", out_h, " must be at least 1x1");
  if (in_w < 1 || in_h < 1) throw_error(what, ": input image is empty (", in_w, "x", in_h, ")");
  constexpr int64_t kMax = int64_t{1} << 30;
  if (in_w > kMax || in_h > kMax || out_w > kMax || out_h > kMax)
    throw_error(what, ": image size too large");
}

// The separable plan ImagingResampleInner follows: which passes run and which source rows the
// horizontal pass must produce for the vertical one.
struct Plan {
  bool horizontal = false, vertical = false;
  Coefficients hc, vc;
  int64_t row0 = 0, rows = 0;  // intermediate image = source rows [row0, row0 + rows)
};

Plan make_plan(int64_t in_w, int64_t in_h, int64_t out_w, int64_t out_h, PilFilter f) {
  const Filter filter = filter_of(f);
  Plan p;
  p.horizontal = out_w != in_w;
  p.vertical = out_h != in_h;
  p.vc = precompute(static_cast<int>(in_h), 0.0f, static_cast<float>(in_h), static_cast<int>(out_h),
                    filter);
  p.row0 = p.vc.first.front();
  p.rows = p.vc.first.back() + p.vc.count.back() - p.row0;
  if (p.horizontal) {
    p.hc = precompute(static_cast<int>(in_w), 0.0f, static_cast<float>(in_w),
                      static_cast<int>(out_w), filter);
    for (int& first : p.vc.first) first -= static_cast<int>(p.row0);
  }
  return p;
}

}  // namespace

PilFilter pil_filter_from_code(int64_t code) {
  if (code < 0 || code > 5)
    throw_error("resample ", code,
                ": not a PIL filter code (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, "
                "5 hamming)");
  return static_cast<PilFilter>(code);
}

std::string pil_filter_name(PilFilter filter) {
  switch (filter) {
    case PilFilter::Nearest:
      return "nearest";
    case PilFilter::Lanczos:
      return "lanczos";
    case PilFilter::Bilinear:
      return "bilinear";
    case PilFilter::Bicubic:
      return "bicubic";
    case PilFilter::Box:
      return "box";
    case PilFilter::Hamming:
      return "hamming";
  }
  return "unknown";
}

at::Tensor pil_resize(const at::Tensor& hwc_u8, int64_t out_w, int64_t out_h, PilFilter filter) {
  if (!hwc_u8.defined() || hwc_u8.dim() != 3 || hwc_u8.scalar_type() != at::kByte ||
      hwc_u8.size(2) < 1 || hwc_u8.size(2) > 4)
    throw_error("pil_resize: expected an [H,W,C] uint8 image with 1 to 4 channels");
  const at::Tensor src = hwc_u8.to(at::kCPU).contiguous();
  const int64_t in_h = src.size(0), in_w = src.size(1), channels = src.size(2);
  check_sizes("pil_resize", in_w, in_h, out_w, out_h);
  if (in_w == out_w && in_h == out_h) return src.clone();

  if (filter == PilFilter::Nearest) {
    const std::vector<int> xs = nearest_positions(in_w, out_w), ys = nearest_positions(in_h, out_h);
    at::Tensor out = at::zeros({out_h, out_w, channels}, src.options());
    const uint8_t* in = src.data_ptr<uint8_t>();
    uint8_t* o = out.data_ptr<uint8_t>();
    for (int64_t y = 0; y < out_h; ++y) {
      if (ys[y] < 0) continue;
      for (int64_t x = 0; x < out_w; ++x) {
        if (xs[x] < 0) continue;
        for (int64_t ch = 0; ch < channels; ++ch)
          o[(y * out_w + x) * channels + ch] = in[(ys[y] * in_w + xs[x]) * channels + ch];
      }
    }
    return out;
  }

  Plan plan = make_plan(in_w, in_h, out_w, out_h, filter);
  at::Tensor cur = src;
  if (plan.horizontal) {
    at::Tensor tmp = at::empty({plan.rows, out_w, channels}, src.options());
    horizontal_u8(cur.data_ptr<uint8_t>(), in_w, channels, plan.row0, plan.rows, plan.hc,
                  tmp.data_ptr<uint8_t>(), out_w);
    cur = tmp;
  }
  if (plan.vertical) {
    at::Tensor out = at::empty({out_h, cur.size(1), channels}, src.options());
    vertical_u8(cur.data_ptr<uint8_t>(), cur.size(1) * channels, plan.vc, out.data_ptr<uint8_t>(),
                out_h);
    cur = out;
  }
  return cur;
}

at::Tensor pil_resize_float(const at::Tensor& chw_float, int64_t out_w, int64_t out_h,
                            PilFilter filter) {
  if (!chw_float.defined() || chw_float.dim() != 3 || !chw_float.is_floating_point())
    throw_error("pil_resize_float: expected a [C,H,W] floating-point image");
  const at::Tensor src = chw_float.to(at::kCPU, at::kFloat).contiguous();
  const int64_t channels = src.size(0), in_h = src.size(1), in_w = src.size(2);
  check_sizes("pil_resize_float", in_w, in_h, out_w, out_h);
  if (in_w == out_w && in_h == out_h) return src.clone();

  at::Tensor out = at::zeros({channels, out_h, out_w}, src.options());
  if (filter == PilFilter::Nearest) {
    const std::vector<int> xs = nearest_positions(in_w, out_w), ys = nearest_positions(in_h, out_h);
    for (int64_t ch = 0; ch < channels; ++ch) {
      const float* in = src.data_ptr<float>() + ch * in_h * in_w;
      float* o = out.data_ptr<float>() + ch * out_h * out_w;
      for (int64_t y = 0; y < out_h; ++y)
        for (int64_t x = 0; x < out_w; ++x)
          if (ys[y] >= 0 && xs[x] >= 0) o[y * out_w + x] = in[ys[y] * in_w + xs[x]];
    }
    return out;
  }

  const Plan plan = make_plan(in_w, in_h, out_w, out_h, filter);
  at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> tmp;
    for (int64_t ch = begin; ch < end; ++ch) {
      const float* in = src.data_ptr<float>() + ch * in_h * in_w;
      float* o = out.data_ptr<float>() + ch * out_h * out_w;
      int64_t w = in_w;
      if (plan.horizontal) {
        tmp.assign(static_cast<size_t>(plan.rows * out_w), 0.0f);
        horizontal_f32(in, in_w, plan.row0, plan.rows, plan.hc, tmp.data(), out_w);
        in = tmp.data();
        w = out_w;
      }
      if (plan.vertical)
        vertical_f32(in, w, plan.vc, o, out_h);
      else
        std::copy(in, in + out_h * w, o);
    }
  });
  return out;
}

}  // namespace editclip
