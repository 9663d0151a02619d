// Bringing a result computed at the processing size back to the query's full size.
//
// The editor only ever sees a ~256x256 version of the query, so a plain resize of its output
// throws away every detail finer than that (a 4000x3000 photo loses >99% of its pixels' worth of
// information). Most exemplar edits are, locally, a colour transform of the input (grading, tone,
// season, style strength), which a model fitted at low resolution can carry to full resolution.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/editclip.h"
#include "engine/image/pil_resample.h"

namespace editclip {

namespace {

void check_image(const FloatImage& image, const char* what) {
  if (image.empty()) throw_error(what, ": empty image (", image.width, "x", image.height, ")");
  if (image.channels != 3 && image.channels != 4)
    throw_error(what, ": ", image.channels, " channels; expected 3 (RGB) or 4 (RGBA)");
  const size_t want = static_cast<size_t>(image.width) * image.height * image.channels;
  if (image.pixels.size() != want)
    throw_error(what, ": pixel buffer has ", image.pixels.size(), " floats, expected ", want, " (",
                image.width, "x", image.height, "x", image.channels, ")");
}

void check_image(const RgbImage& image, const char* what) {
  if (image.empty()) throw_error(what, ": empty image (", image.width, "x", image.height, ")");
  const size_t want = static_cast<size_t>(image.width) * image.height * 3;
  if (image.pixels.size() != want)
    throw_error(what, ": pixel buffer has ", image.pixels.size(), " bytes, expected ", want, " (",
                image.width, "x", image.height, "x3)");
}

// [H,W,C] float view of a FloatImage (no copy; the image must outlive it).
at::Tensor hwc_view(const FloatImage& image) {
  return at::from_blob(const_cast<float*>(image.pixels.data()),
                       {image.height, image.width, image.channels}, at::kFloat);
}

// [3,h,w] float in [0,1].
at::Tensor chw_unit(const RgbImage& image) {
  return at::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 3},
                       at::kByte)
      .permute({2, 0, 1})
      .to(at::kFloat)
      .div_(255.0f);
}

// Output of original's size and channel count with its alpha (if any) already in place; the
// caller fills RGB.
FloatImage like(const FloatImage& original) {
  FloatImage out;
  out.width = original.width;
  out.height = original.height;
  out.channels = original.channels;
  if (original.channels == 4)
    out.pixels = original.pixels;
  else
    out.pixels.resize(original.pixels.size());
  return out;
}

void write_rgb(FloatImage& out, const at::Tensor& chw) {
  hwc_view(out).narrow(2, 0, 3).copy_(chw.permute({1, 2, 0}));
}

// Mean over a (2r+1)^2 window clipped to the image, so borders average only real pixels (the
// classic guided-filter normalisation), in place on one h x w plane. The clipped window is a
// rectangle, so its mean is the mean of row means: two running-sum passes, O(1) per pixel.
void box_mean(double* p, int64_t h, int64_t w, int64_t r, std::vector<double>& sums) {
  sums.resize(static_cast<size_t>(std::max(h, w)) + 1);
  auto pass = [&](int64_t lines, int64_t len, int64_t line_step, int64_t step) {
    for (int64_t l = 0; l < lines; ++l) {
      double* q = p + l * line_step;
      sums[0] = 0.0;
      for (int64_t i = 0; i < len; ++i) sums[i + 1] = sums[i] + q[i * step];
      for (int64_t i = 0; i < len; ++i) {
        const int64_t lo = std::max<int64_t>(0, i - r), hi = std::min(len, i + r + 1);
        q[i * step] = (sums[hi] - sums[lo]) / static_cast<double>(hi - lo);
      }
    }
  };
  pass(h, w, w, 1);  // along rows
  pass(w, h, 1, w);  // along columns
}

// Bilinear sample positions (align_corners = false, edge-clamped) of `out` samples over `in`.
struct LerpAxis {
  std::vector<int64_t> i0, i1;
  std::vector<float> f;  // weight of i1
};

LerpAxis lerp_axis(int64_t in, int64_t out) {
  LerpAxis a;
  a.i0.resize(out);
  a.i1.resize(out);
  a.f.resize(out);
  const double scale = static_cast<double>(in) / out;
  for (int64_t i = 0; i < out; ++i) {
    const double src = std::clamp((i + 0.5) * scale - 0.5, 0.0, static_cast<double>(in - 1));
    a.i0[i] = static_cast<int64_t>(src);
    a.i1[i] = std::min(a.i0[i] + 1, in - 1);
    a.f[i] = static_cast<float>(src - a.i0[i]);
  }
  return a;
}

// Why a colour (3x3) model rather than one gain per channel: exemplar edits are often channel
// mixes (sepia, black and white, white balance, season colours) that no per-channel gain can
// express; with the full matrix they transfer exactly wherever the low-res guide has texture.
constexpr double kEps = 1e-4;  // ridge on the guide's covariance, in [0,1]^2 units (~2.5 levels)
// Gains are bounded so a near-flat window cannot amplify full-resolution noise; whatever the
// bounded model misses stays in the resized change instead.
constexpr double kMaxGain = 3.0;

inline float clamp01(float v) {
  // NaN (a broken float layer) becomes 0.
  return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
}

// Per low-res pixel, 12 floats: the 3x3 local gain A' of the change (row c = output channel) and
// the part of the change it does not explain.
//
// The fit is a guided filter on the change D = result - guide: in each window,
// D ~= A' * guide + b'. Modelling the change, not the result, makes the ridge pull towards "keep
// the original" (gain 1), so detail invisible at low resolution passes through untouched instead
// of being flattened. b' is never needed: the unexplained part D - A' * guide is kept in full
// (resized), which carries b' and anything the local model misses (new content, strokes the
// original never had). Hence, at full resolution,
//   out = O + up(D - A' * guide) + A' * O  ~=  O + up(D) + A' * (O - up(guide)):
// the resized change plus the full-resolution detail scaled by the local gain, and downscaling
// `out` gives the engine's result back.
//
// Plain loops, not ATen ops: at this size (~65k pixels) each of the ~100 small ops would be its
// own thread-pool region, and on a busy CPU those synchronisations cost seconds; this is ~10 ms.
std::vector<float> fit_change_model(const uint8_t* guide_hwc, const uint8_t* result_hwc, int64_t h,
                                    int64_t w) {
  const int64_t n = h * w;
  const int64_t r = std::max<int64_t>(1, std::llround(std::min(h, w) / 64.0));
  // Planes: guide I (3), change D (3), I_i * I_j (6, i <= j), I_k * D_c (9, k-major).
  std::vector<double> planes(static_cast<size_t>(21 * n));
  auto plane = [&](int i) { return planes.data() + i * n; };
  for (int64_t i = 0; i < n; ++i) {
    double I[3], D[3];
    for (int c = 0; c < 3; ++c) {
      I[c] = guide_hwc[i * 3 + c] / 255.0;
      D[c] = result_hwc[i * 3 + c] / 255.0 - I[c];
      plane(c)[i] = I[c];
      plane(3 + c)[i] = D[c];
    }
    int at = 6;
    for (int a = 0; a < 3; ++a)
      for (int b = a; b < 3; ++b) plane(at++)[i] = I[a] * I[b];
    for (int k = 0; k < 3; ++k)
      for (int c = 0; c < 3; ++c) plane(at++)[i] = I[k] * D[c];
  }
  std::vector<double> sums;
  for (int i = 0; i < 21; ++i) box_mean(plane(i), h, w, r, sums);

  std::vector<double> gains(static_cast<size_t>(9 * n));
  for (int64_t i = 0; i < n; ++i) {
    double mI[3], mD[3], s[3][3], cov[3][3];
    for (int c = 0; c < 3; ++c) {
      mI[c] = plane(c)[i];
      mD[c] = plane(3 + c)[i];
    }
    int at = 6;
    for (int a = 0; a < 3; ++a)
      for (int b = a; b < 3; ++b) {
        s[a][b] = s[b][a] = plane(at++)[i] - mI[a] * mI[b];
        if (a == b) s[a][a] += kEps;
      }
    for (int k = 0; k < 3; ++k)
      for (int c = 0; c < 3; ++c) cov[k][c] = plane(at++)[i] - mI[k] * mD[c];
    // Symmetric positive definite (eigenvalues >= eps): the cofactor inverse is safe.
    double inv[3][3];
    inv[0][0] = s[1][1] * s[2][2] - s[1][2] * s[1][2];
    inv[0][1] = s[0][2] * s[1][2] - s[0][1] * s[2][2];
    inv[0][2] = s[0][1] * s[1][2] - s[0][2] * s[1][1];
    inv[1][1] = s[0][0] * s[2][2] - s[0][2] * s[0][2];
    inv[1][2] = s[0][1] * s[0][2] - s[0][0] * s[1][2];
    inv[2][2] = s[0][0] * s[1][1] - s[0][1] * s[0][1];
    inv[1][0] = inv[0][1];
    inv[2][0] = inv[0][2];
    inv[2][1] = inv[1][2];
    const double det = s[0][0] * inv[0][0] + s[0][1] * inv[0][1] + s[0][2] * inv[0][2];
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 3; ++k) {
        const double a =
            (inv[k][0] * cov[0][c] + inv[k][1] * cov[1][c] + inv[k][2] * cov[2][c]) / det;
        gains[(3 * c + k) * n + i] = std::clamp(a, -kMaxGain, kMaxGain);
      }
  }
  // Averaging the per-window gains over the windows covering each pixel (the guided filter's
  // second box pass) makes them smooth enough to interpolate to full resolution.
  for (int j = 0; j < 9; ++j) box_mean(gains.data() + j * n, h, w, r, sums);

  std::vector<float> maps(static_cast<size_t>(12 * n));
  for (int64_t i = 0; i < n; ++i) {
    float* m = maps.data() + i * 12;
    for (int j = 0; j < 9; ++j) m[j] = static_cast<float>(gains[j * n + i]);
    for (int c = 0; c < 3; ++c) {
      double rest = (result_hwc[i * 3 + c] - guide_hwc[i * 3 + c]) / 255.0;
      for (int k = 0; k < 3; ++k)
        rest -= gains[(3 * c + k) * n + i] * (guide_hwc[i * 3 + k] / 255.0);
      m[9 + c] = static_cast<float>(rest);
    }
  }
  return maps;
}

FloatImage guided_restore(const FloatImage& original, const RgbImage& edited) {
  const int64_t H = original.height, W = original.width, C = original.channels;
  const int64_t h = edited.height, w = edited.width;
  // The guide is exactly the engine's input: the layer as 8 bits, PIL-bicubic resized. Then an
  // unchanged region gives a zero change, with no resampling mismatch mistaken for an edit.
  at::Tensor guide;
  {
    RgbImage query8 = to_rgb8(original);
    guide = pil_resize(at::from_blob(query8.pixels.data(), {H, W, 3}, at::kByte), w, h,
                       PilFilter::Bicubic)
                .contiguous();
  }
  const std::vector<float> maps =
      fit_change_model(guide.data_ptr<uint8_t>(), edited.pixels.data(), h, w);

  // The 12 low-res maps are interpolated to full resolution on the fly, one output row at a
  // time, so 12 full-size maps (~580 MB for 12 megapixels) never exist.
  const LerpAxis ax = lerp_axis(w, W), ay = lerp_axis(h, H);
  const float* mp = maps.data();  // [h,w,12]

  FloatImage out;
  out.width = original.width;
  out.height = original.height;
  out.channels = original.channels;
  out.pixels.resize(original.pixels.size());
  const float* src = original.pixels.data();
  float* dst = out.pixels.data();
  at::parallel_for(0, H, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(w) * 12);
    float m[12];
    for (int64_t y = begin; y < end; ++y) {
      const float* r0 = mp + ay.i0[y] * w * 12;
      const float* r1 = mp + ay.i1[y] * w * 12;
      const float fy = ay.f[y];
      for (int64_t i = 0; i < w * 12; ++i) row[i] = r0[i] + fy * (r1[i] - r0[i]);
      const float* o = src + y * W * C;
      float* d = dst + y * W * C;
      for (int64_t x = 0; x < W; ++x, o += C, d += C) {
        const float* a = row.data() + ax.i0[x] * 12;
        const float* b = row.data() + ax.i1[x] * 12;
        const float fx = ax.f[x];
        for (int j = 0; j < 12; ++j) m[j] = a[j] + fx * (b[j] - a[j]);
        const float v[3] = {clamp01(o[0]), clamp01(o[1]), clamp01(o[2])};
        for (int c = 0; c < 3; ++c)
          d[c] = clamp01(v[c] + m[9 + c] + m[3 * c] * v[0] + m[3 * c + 1] * v[1] +
                         m[3 * c + 2] * v[2]);
        if (C == 4) d[3] = o[3];
      }
    }
  });
  return out;
}

}  // namespace

UpscaleMode parse_upscale_mode(const std::string& name) {
  if (name == "guided") return UpscaleMode::Guided;
  if (name == "plain") return UpscaleMode::Plain;
  throw_error("upscale mode '", name, "': expected guided or plain");
}

std::string upscale_mode_name(UpscaleMode mode) {
  return mode == UpscaleMode::Plain ? "plain" : "guided";
}

FloatImage to_float_image(const RgbImage& image) {
  check_image(image, "to_float_image");
  FloatImage out;
  out.width = image.width;
  out.height = image.height;
  out.channels = 3;
  out.pixels.resize(image.pixels.size());
  std::transform(image.pixels.begin(), image.pixels.end(), out.pixels.begin(),
                 [](uint8_t v) { return v / 255.0f; });
  return out;
}

RgbImage to_rgb8(const FloatImage& image) {
  check_image(image, "to_rgb8");
  RgbImage out;
  out.width = image.width;
  out.height = image.height;
  const int64_t n = static_cast<int64_t>(image.width) * image.height;
  out.pixels.resize(static_cast<size_t>(n) * 3);
  const float* in = image.pixels.data();
  const int channels = image.channels;
  uint8_t* o = out.pixels.data();
  at::parallel_for(0, n, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      for (int c = 0; c < 3; ++c)
        // Round half up, in double so v * 255 + 0.5 is exact: the same as std::lround, faster.
        o[i * 3 + c] =
            static_cast<uint8_t>(static_cast<double>(clamp01(in[i * channels + c])) * 255.0 + 0.5);
  });
  return out;
}

FloatImage restore_full_resolution(const FloatImage& original, const RgbImage& edited,
                                   UpscaleMode mode) {
  check_image(original, "restore_full_resolution: original");
  check_image(edited, "restore_full_resolution: edited");
  // A result already at full size (e.g. a square 256 query) is returned as computed, so the
  // front ends give exactly the engine's pixels whatever the mode.
  if (edited.width == original.width && edited.height == original.height) {
    FloatImage out = like(original);
    write_rgb(out, chw_unit(edited));
    return out;
  }
  if (mode == UpscaleMode::Guided) return guided_restore(original, edited);
  FloatImage out = like(original);
  write_rgb(out,
            pil_resize_float(chw_unit(edited), original.width, original.height, PilFilter::Bicubic)
                .clamp_(0.0f, 1.0f));
  return out;
}

}  // namespace editclip
