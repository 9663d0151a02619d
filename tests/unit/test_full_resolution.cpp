// Bringing the engine's low-resolution result back to the query's full size (guided and plain).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "engine/core/error.h"
#include "engine/editclip.h"
#include "engine/image/pil_resample.h"
#include "engine/image/rgb_image.h"
#include "tests/test_support.h"

using namespace editclip;

namespace {

using editclip::test::error_of;

at::Generator gen(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

// A photo-like test image [H,W,3] in [0.1, 0.9]: structure at every scale, from gradients to a
// 2-pixel checker, so part of its detail is invisible at the processing size.
at::Tensor photo_like(int64_t H, int64_t W, uint64_t seed) {
  auto g = gen(seed);
  at::Tensor img = at::zeros({1, 3, H, W});
  // Smooth random fields at several scales (the low-res-visible structure).
  for (int64_t cells : {3, 9, 27, 81}) {
    at::Tensor noise = at::rand({1, 3, std::max<int64_t>(2, H * cells / std::max(H, W)),
                                 std::max<int64_t>(2, W * cells / std::max(H, W))},
                                g);
    img += at::upsample_bilinear2d(noise, {H, W}, false) * (0.6 / std::sqrt(cells));
  }
  // Full-resolution-only detail: a 2-pixel checker and pixel noise.
  at::Tensor y = at::arange(H).view({H, 1}), x = at::arange(W).view({1, W});
  img += ((x + y) % 2).to(at::kFloat) * 0.08;
  img += at::rand({1, 3, H, W}, g) * 0.06;
  img = img[0].permute({1, 2, 0});
  const at::Tensor lo = img.amin({0, 1}, true), hi = img.amax({0, 1}, true);
  return ((img - lo) / (hi - lo) * 0.8 + 0.1).contiguous();
}

FloatImage float_image(const at::Tensor& hwc) {
  const at::Tensor t = hwc.to(at::kFloat).contiguous();
  FloatImage out;
  out.height = static_cast<int>(t.size(0));
  out.width = static_cast<int>(t.size(1));
  out.channels = static_cast<int>(t.size(2));
  out.pixels.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  return out;
}

at::Tensor tensor_of(const FloatImage& image) {
  return at::from_blob(const_cast<float*>(image.pixels.data()),
                       {image.height, image.width, image.channels}, at::kFloat)
      .clone();
}

at::Tensor u8(const at::Tensor& unit_hwc) {
  return (unit_hwc.clamp(0, 1) * 255).round().to(at::kByte);
}

// What the engine feeds the model: the 8-bit query, PIL-bicubic resized to the processing size.
at::Tensor engine_query(const at::Tensor& full_hwc, int size) {
  auto [w, h] =
      processing_size(static_cast<int>(full_hwc.size(1)), static_cast<int>(full_hwc.size(0)), size);
  return pil_resize(u8(full_hwc.narrow(2, 0, 3)), w, h, PilFilter::Bicubic);
}

double psnr(const at::Tensor& a, const at::Tensor& b) {
  const double mse = (a.narrow(2, 0, 3) - b.narrow(2, 0, 3)).pow(2).mean().item<double>();
  return 10.0 * std::log10(1.0 / std::max(mse, 1e-20));
}

// A per-pixel colour transform: out = M * in + t (per channel gain + offset + channel mixing).
at::Tensor colour_transform(const at::Tensor& hwc01, const at::Tensor& M, const at::Tensor& t) {
  return at::matmul(hwc01, M.t()) + t;
}

}  // namespace

TEST(FullResolution, ModeNames) {
  EXPECT_EQ(parse_upscale_mode("guided"), UpscaleMode::Guided);
  EXPECT_EQ(parse_upscale_mode("plain"), UpscaleMode::Plain);
  EXPECT_EQ(upscale_mode_name(UpscaleMode::Guided), "guided");
  EXPECT_EQ(upscale_mode_name(UpscaleMode::Plain), "plain");
  EXPECT_NE(error_of([] { parse_upscale_mode("bicubic"); }).find("guided or plain"),
            std::string::npos);
}

TEST(FullResolution, FloatConversionsRoundTrip) {
  at::Tensor px = at::randint(0, 256, {13, 7, 3}, gen(1), at::TensorOptions().dtype(at::kByte));
  RgbImage rgb = rgb_image(px);
  FloatImage f = to_float_image(rgb);
  EXPECT_EQ(f.channels, 3);
  EXPECT_EQ(to_rgb8(f).pixels, rgb.pixels);
  // Out-of-range and NaN values clamp; alpha is dropped.
  FloatImage rgba{2, 1, 4, {-0.5f, 1.5f, 0.5f, 0.25f, NAN, 1.0f, 0.0f, 1.0f}};
  RgbImage back = to_rgb8(rgba);
  EXPECT_EQ(back.pixels, (std::vector<uint8_t>{0, 255, 128, 0, 255, 0}));
}

TEST(FullResolution, SameSizeReturnsTheEditedPixelsExactly) {
  for (int channels : {3, 4}) {
    at::Tensor orig = at::rand({31, 17, channels}, gen(2));
    RgbImage edited =
        rgb_image(at::randint(0, 256, {31, 17, 3}, gen(3), at::TensorOptions().dtype(at::kByte)));
    for (UpscaleMode mode : {UpscaleMode::Guided, UpscaleMode::Plain}) {
      FloatImage out = restore_full_resolution(float_image(orig), edited, mode);
      ASSERT_EQ(out.channels, channels);
      at::Tensor t = tensor_of(out);
      EXPECT_TRUE(t.narrow(2, 0, 3).equal(tensor_of(to_float_image(edited))));
      if (channels == 4) EXPECT_TRUE(t.select(2, 3).equal(orig.select(2, 3)));
      EXPECT_EQ(to_rgb8(out).pixels, edited.pixels);
    }
  }
}

TEST(FullResolution, IdentityEditReturnsTheOriginal) {
  const at::Tensor orig = photo_like(389, 517, 4);
  RgbImage edited = rgb_image(engine_query(orig, 128));
  const at::Tensor guided =
      tensor_of(restore_full_resolution(float_image(orig), edited, UpscaleMode::Guided));
  const at::Tensor plain =
      tensor_of(restore_full_resolution(float_image(orig), edited, UpscaleMode::Plain));
  const double mean_err = (guided - orig).abs().mean().item<double>();
  const double max_err = (guided - orig).abs().max().item<double>();
  std::cout << "[ identity ] guided vs original: mean " << mean_err * 255 << " levels, max "
            << max_err * 255 << " levels; PSNR guided " << psnr(guided, orig) << " dB, plain "
            << psnr(plain, orig) << " dB\n";
  EXPECT_LT(mean_err, 1.0 / 255);
  EXPECT_LT(max_err, 6.0 / 255);
  EXPECT_GT(psnr(guided, orig), psnr(plain, orig) + 15.0);

  // A model never returns its input exactly (the VAE round trip alone moves pixels by a few
  // levels): with +-3 levels of noise on the result the original's detail must still survive.
  const at::Tensor noise = at::randint(-3, 4, {edited.height, edited.width, 3}, gen(40));
  RgbImage noisy =
      rgb_image((engine_query(orig, 128).to(at::kInt) + noise).clamp(0, 255).to(at::kByte));
  const at::Tensor g2 =
      tensor_of(restore_full_resolution(float_image(orig), noisy, UpscaleMode::Guided));
  const at::Tensor p2 =
      tensor_of(restore_full_resolution(float_image(orig), noisy, UpscaleMode::Plain));
  std::cout << "[ noisy identity ] mean abs error guided "
            << (g2 - orig).abs().mean().item<double>() * 255 << " levels; PSNR guided "
            << psnr(g2, orig) << " dB, plain " << psnr(p2, orig) << " dB\n";
  EXPECT_LT((g2 - orig).abs().mean().item<double>(), 2.0 / 255);
  EXPECT_GT(psnr(g2, orig), psnr(p2, orig) + 10.0);
}

TEST(FullResolution, GlobalColourChangeKeepsFullResolutionDetail) {
  const at::Tensor orig = photo_like(600, 440, 5);
  struct Case {
    const char* name;
    at::Tensor M, t;
  };
  std::vector<Case> cases{
      {"gain+offset", at::diag(at::tensor({0.8f, 1.1f, 0.7f})), at::tensor({0.1f, -0.02f, 0.2f})},
      // sepia-like channel mix (rows sum to < 1 so nothing clips)
      {"channel mix",
       at::tensor({0.35f, 0.55f, 0.1f, 0.3f, 0.5f, 0.1f, 0.2f, 0.4f, 0.1f}).view({3, 3}),
       at::tensor({0.05f, 0.05f, 0.1f})},
  };
  for (auto& c : cases) {
    const at::Tensor truth = colour_transform(orig, c.M, c.t);
    ASSERT_GE(truth.min().item<double>(), 0.0) << c.name;
    ASSERT_LE(truth.max().item<double>(), 1.0) << c.name;
    // The engine edits the low-res query; the edit is the same colour transform there.
    const at::Tensor low = engine_query(orig, 128).to(at::kFloat) / 255;
    RgbImage edited = rgb_image(u8(colour_transform(low, c.M, c.t)));
    const at::Tensor guided =
        tensor_of(restore_full_resolution(float_image(orig), edited, UpscaleMode::Guided));
    const at::Tensor plain =
        tensor_of(restore_full_resolution(float_image(orig), edited, UpscaleMode::Plain));
    const double pg = psnr(guided, truth), pp = psnr(plain, truth);
    std::cout << "[ " << c.name << " ] PSNR vs true full-res edit: guided " << pg << " dB, plain "
              << pp << " dB\n";
    EXPECT_GT(pg, 40.0) << c.name;
    EXPECT_GT(pg, pp + 10.0) << c.name;
  }
}

TEST(FullResolution, UnexplainedChangeIsNoWorseThanPlain) {
  // New content the original cannot explain (here an unrelated image): guided falls back to the
  // resized residual, so downscaling its output gives the engine's result back about as well as
  // downscaling a plain resize does.
  const at::Tensor orig = photo_like(300, 420, 6);
  const at::Tensor other = photo_like(300, 420, 7);
  RgbImage edited = rgb_image(engine_query(other, 96));
  const at::Tensor want =
      at::from_blob(edited.pixels.data(), {edited.height, edited.width, 3}, at::kByte)
          .to(at::kFloat) /
      255;
  auto downscaled_error = [&](UpscaleMode mode) {
    const at::Tensor full = tensor_of(restore_full_resolution(float_image(orig), edited, mode));
    const at::Tensor down =
        pil_resize_float(full.permute({2, 0, 1}), edited.width, edited.height).permute({1, 2, 0});
    return (down - want).abs().mean().item<double>();
  };
  const double guided = downscaled_error(UpscaleMode::Guided);
  const double plain = downscaled_error(UpscaleMode::Plain);
  std::cout << "[ unrelated ] mean abs error after downscaling: guided " << guided * 255
            << " levels, plain " << plain * 255 << " levels\n";
  EXPECT_LT(guided, plain * 1.5 + 0.5 / 255);
}

TEST(FullResolution, AlphaIsCopiedUnchanged) {
  at::Tensor rgb = photo_like(123, 97, 8);
  at::Tensor alpha = at::rand({123, 97, 1}, gen(9));
  alpha.index_put_({at::indexing::Slice(0, 10)}, 0.0f);
  const at::Tensor orig = at::cat({rgb, alpha}, 2);
  RgbImage edited = rgb_image(engine_query(orig, 64));
  for (UpscaleMode mode : {UpscaleMode::Guided, UpscaleMode::Plain}) {
    FloatImage out = restore_full_resolution(float_image(orig), edited, mode);
    ASSERT_EQ(out.channels, 4);
    EXPECT_TRUE(tensor_of(out).select(2, 3).equal(alpha.select(2, 0)));
  }
}

TEST(FullResolution, OddSizesAndOnePixelWideImages) {
  struct Size {
    int W, H, w, h;
  };
  for (Size s : std::vector<Size>{{1, 57, 1, 8},
                                  {57, 1, 8, 1},
                                  {3, 5, 2, 2},
                                  {2, 2, 1, 1},
                                  {1, 1, 1, 1},
                                  {8, 8, 16, 16},
                                  {333, 101, 64, 24}}) {
    // A constant image shifted by a constant: every mode must give the shifted constant.
    at::Tensor orig = at::full({s.H, s.W, 3}, 0.4f);
    RgbImage edited = rgb_image(at::full({s.h, s.w, 3}, 153, at::TensorOptions().dtype(at::kByte)));
    for (UpscaleMode mode : {UpscaleMode::Guided, UpscaleMode::Plain}) {
      FloatImage out = restore_full_resolution(float_image(orig), edited, mode);
      ASSERT_EQ(out.width, s.W);
      ASSERT_EQ(out.height, s.H);
      ASSERT_EQ(out.pixels.size(), static_cast<size_t>(s.W) * s.H * 3);
      const at::Tensor t = tensor_of(out);
      EXPECT_LT((t - 0.6f).abs().max().item<double>(), 1e-5)
          << s.W << "x" << s.H << " from " << s.w << "x" << s.h << " " << upscale_mode_name(mode);
    }
    // And a textured one stays finite and in range.
    at::Tensor tex = at::rand({s.H, s.W, 3}, gen(10));
    RgbImage e2 = rgb_image(
        at::randint(0, 256, {s.h, s.w, 3}, gen(11), at::TensorOptions().dtype(at::kByte)));
    const at::Tensor t = tensor_of(restore_full_resolution(float_image(tex), e2));
    EXPECT_TRUE(at::isfinite(t).all().item<bool>());
    EXPECT_GE(t.min().item<double>(), 0.0);
    EXPECT_LE(t.max().item<double>(), 1.0);
  }
}

TEST(FullResolution, BadInputIsAnError) {
  FloatImage ok = float_image(at::rand({8, 8, 3}, gen(12)));
  RgbImage e{4, 4, std::vector<uint8_t>(4 * 4 * 3, 0)};
  EXPECT_NE(error_of([&] { restore_full_resolution(FloatImage{}, e); }).find("empty"),
            std::string::npos);
  EXPECT_NE(error_of([&] { restore_full_resolution(ok, RgbImage{}); }).find("empty"),
            std::string::npos);
  FloatImage short_buffer = ok;
  short_buffer.pixels.pop_back();
  EXPECT_NE(error_of([&] { restore_full_resolution(short_buffer, e); }).find("pixel buffer"),
            std::string::npos);
  RgbImage bad_e = e;
  bad_e.pixels.resize(5);
  EXPECT_NE(error_of([&] { restore_full_resolution(ok, bad_e); }).find("pixel buffer"),
            std::string::npos);
  FloatImage two = ok;
  two.channels = 2;
  EXPECT_NE(error_of([&] { restore_full_resolution(two, e); }).find("channels"), std::string::npos);
  EXPECT_NE(error_of([&] { to_rgb8(short_buffer); }), "");
  EXPECT_NE(error_of([&] { to_float_image(bad_e); }), "");
}
