// Pixel transfer between GEGL buffers and the engine's images (plugin/pixel_transfer.h), on
// in-memory GEGL buffers in the formats GIMP 2.10 drawables use.
#include <gegl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/core/error.h"
#include "plugin/pixel_transfer.h"

using namespace editclip;
using namespace editclip::gimp;

namespace {

// A buffer of `format` whose extent starts at (x, y), filled from `data` (row-major, `format`).
template <typename T>
GeglBuffer* make_buffer(const char* format, int x, int y, int w, int h,
                        const std::vector<T>& data) {
  const GeglRectangle extent{x, y, w, h};
  GeglBuffer* b = gegl_buffer_new(&extent, babl_format(format));
  gegl_buffer_set(b, &extent, 0, babl_format(format), data.data(), GEGL_AUTO_ROWSTRIDE);
  return b;
}

float srgb_to_linear(float v) {
  return v <= 0.04045f ? v / 12.92f : std::pow((v + 0.055f) / 1.055f, 2.4f);
}

FloatImage rgba(int w, int h, std::vector<float> px) {
  FloatImage img;
  img.width = w;
  img.height = h;
  img.channels = 4;
  img.pixels = std::move(px);
  return img;
}

}  // namespace

TEST(PixelTransfer, Reads8BitRgbaExactly) {
  std::vector<uint8_t> px = {255, 0, 0, 255, 0, 128, 0, 128, 1, 2, 3, 0, 10, 20, 30, 40};
  GeglBuffer* b = make_buffer("R'G'B'A u8", 0, 0, 2, 2, px);
  FloatImage img = read_rgba(b, Region{0, 0, 2, 2});
  ASSERT_EQ(img.channels, 4);
  ASSERT_EQ(img.pixels.size(), 16u);
  for (size_t i = 0; i < px.size(); ++i) EXPECT_NEAR(img.pixels[i], px[i] / 255.0f, 1e-6) << i;
  g_object_unref(b);
}

TEST(PixelTransfer, RgbWithoutAlphaReadsOpaque) {
  std::vector<uint8_t> px = {10, 20, 30, 40, 50, 60};
  GeglBuffer* b = make_buffer("R'G'B' u8", 0, 0, 2, 1, px);
  FloatImage img = read_rgba(b, Region{0, 0, 2, 1});
  EXPECT_NEAR(img.pixels[0], 10 / 255.0f, 1e-6);
  EXPECT_NEAR(img.pixels[6], 60 / 255.0f, 1e-6);
  EXPECT_EQ(img.pixels[3], 1.0f);
  EXPECT_EQ(img.pixels[7], 1.0f);
  g_object_unref(b);
}

TEST(PixelTransfer, GrayAndGrayAlphaBecomeEqualChannels) {
  std::vector<uint8_t> gray = {0, 100, 255};
  GeglBuffer* g = make_buffer("Y' u8", 0, 0, 3, 1, gray);
  FloatImage a = read_rgba(g, Region{0, 0, 3, 1});
  for (int i = 0; i < 3; ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(a.pixels[i * 4 + c], gray[i] / 255.0f, 1e-5);
    EXPECT_EQ(a.pixels[i * 4 + 3], 1.0f);
  }
  std::vector<uint8_t> graya = {100, 51};
  GeglBuffer* ga = make_buffer("Y'A u8", 0, 0, 1, 1, graya);
  FloatImage b = read_rgba(ga, Region{0, 0, 1, 1});
  EXPECT_NEAR(b.pixels[1], 100 / 255.0f, 1e-5);
  EXPECT_NEAR(b.pixels[3], 51 / 255.0f, 1e-6);
  g_object_unref(g);
  g_object_unref(ga);
}

TEST(PixelTransfer, LinearFloatIsConvertedToSrgb) {
  // A 32-bit linear image (GIMP "32-bit floating point, linear light"): 0.2140 linear is about
  // 0.5 in sRGB; the engine must see the sRGB value, like an 8-bit file of the same picture.
  std::vector<float> px = {srgb_to_linear(0.5f), srgb_to_linear(0.25f), 1.0f, 0.5f};
  GeglBuffer* b = make_buffer("RGBA float", 0, 0, 1, 1, px);
  FloatImage img = read_rgba(b, Region{0, 0, 1, 1});
  EXPECT_NEAR(img.pixels[0], 0.5f, 1e-4);
  EXPECT_NEAR(img.pixels[1], 0.25f, 1e-4);
  EXPECT_NEAR(img.pixels[2], 1.0f, 1e-5);
  EXPECT_NEAR(img.pixels[3], 0.5f, 1e-6);  // alpha is never gamma-encoded
  g_object_unref(b);
}

TEST(PixelTransfer, SixteenBitAndHalfFormats) {
  // 16-bit perceptual (GIMP "16-bit integer, perceptual gamma") and half-float linear.
  std::vector<uint16_t> px16 = {65535, 32768, 0, 65535};
  GeglBuffer* b16 = make_buffer("R'G'B'A u16", 0, 0, 1, 1, px16);
  FloatImage a = read_rgba(b16, Region{0, 0, 1, 1});
  EXPECT_NEAR(a.pixels[0], 1.0f, 1e-6);
  EXPECT_NEAR(a.pixels[1], 32768 / 65535.0f, 1e-5);
  EXPECT_EQ(a.pixels[2], 0.0f);
  g_object_unref(b16);
  std::vector<float> lin = {srgb_to_linear(0.75f), 0.0f, 1.0f, 1.0f};
  GeglBuffer* bf = make_buffer("RGBA float", 0, 0, 1, 1, lin);
  const GeglRectangle r{0, 0, 1, 1};
  GeglBuffer* h = gegl_buffer_new(&r, babl_format("RGBA half"));
  gegl_buffer_copy(bf, &r, GEGL_ABYSS_NONE, h, &r);
  FloatImage b = read_rgba(h, Region{0, 0, 1, 1});
  EXPECT_NEAR(b.pixels[0], 0.75f, 2e-3);  // half precision
  g_object_unref(bf);
  g_object_unref(h);
}

TEST(PixelTransfer, IndexedBuffersReadTheirPaletteColours) {
  // GIMP's indexed drawables are babl palette formats; reading them as RGBA gives the colours.
  const Babl* format = nullptr;
  const Babl* format_alpha = nullptr;
  babl_new_palette(nullptr, &format, &format_alpha);
  const uint8_t palette[] = {255, 0, 0, 0, 0, 255, 10, 200, 30};
  babl_palette_set_palette(format, babl_format("R'G'B' u8"), const_cast<uint8_t*>(palette), 3);
  const GeglRectangle r{0, 0, 3, 1};
  GeglBuffer* b = gegl_buffer_new(&r, format);
  const uint8_t indices[] = {2, 0, 1};
  gegl_buffer_set(b, &r, 0, format, indices, GEGL_AUTO_ROWSTRIDE);
  RgbImage rgb = flatten_to_rgb8(read_rgba(b, Region{0, 0, 3, 1}));
  const std::vector<uint8_t> want = {10, 200, 30, 255, 0, 0, 0, 0, 255};
  EXPECT_EQ(rgb.pixels, want);
  g_object_unref(b);
}

TEST(PixelTransfer, WriteConvertsToTheBufferFormat) {
  const GeglRectangle extent{0, 0, 1, 1};
  GeglBuffer* lin = gegl_buffer_new(&extent, babl_format("RGBA float"));
  write_rgba(lin, Region{0, 0, 1, 1}, rgba(1, 1, {0.5f, 0.25f, 1.0f, 0.75f}));
  float out[4];
  gegl_buffer_get(lin, &extent, 1.0, babl_format("RGBA float"), out, GEGL_AUTO_ROWSTRIDE,
                  GEGL_ABYSS_NONE);
  EXPECT_NEAR(out[0], srgb_to_linear(0.5f), 1e-5);
  EXPECT_NEAR(out[1], srgb_to_linear(0.25f), 1e-5);
  EXPECT_NEAR(out[3], 0.75f, 1e-6);
  g_object_unref(lin);

  GeglBuffer* u8 = gegl_buffer_new(&extent, babl_format("R'G'B'A u8"));
  write_rgba(u8, Region{0, 0, 1, 1}, rgba(1, 1, {200 / 255.0f, 0.0f, 1.0f, 128 / 255.0f}));
  uint8_t b[4];
  gegl_buffer_get(u8, &extent, 1.0, babl_format("R'G'B'A u8"), b, GEGL_AUTO_ROWSTRIDE,
                  GEGL_ABYSS_NONE);
  EXPECT_EQ(b[0], 200);
  EXPECT_EQ(b[1], 0);
  EXPECT_EQ(b[2], 255);
  EXPECT_EQ(b[3], 128);
  g_object_unref(u8);
}

TEST(PixelTransfer, EightBitRoundTripIsExact) {
  // Every 8-bit value read as float and written back (the copy-outside-selection path) is the
  // same byte.
  std::vector<uint8_t> px(256 * 4);
  for (int i = 0; i < 256; ++i) {
    px[i * 4 + 0] = static_cast<uint8_t>(i);
    px[i * 4 + 1] = static_cast<uint8_t>(255 - i);
    px[i * 4 + 2] = static_cast<uint8_t>(i * 7);
    px[i * 4 + 3] = static_cast<uint8_t>(i);
  }
  GeglBuffer* src = make_buffer("R'G'B'A u8", 0, 0, 256, 1, px);
  FloatImage img = read_rgba(src, Region{0, 0, 256, 1});
  const GeglRectangle extent{0, 0, 256, 1};
  GeglBuffer* dst = gegl_buffer_new(&extent, babl_format("R'G'B'A u8"));
  write_rgba(dst, Region{0, 0, 256, 1}, img);
  std::vector<uint8_t> back(px.size());
  gegl_buffer_get(dst, &extent, 1.0, babl_format("R'G'B'A u8"), back.data(), GEGL_AUTO_ROWSTRIDE,
                  GEGL_ABYSS_NONE);
  EXPECT_EQ(back, px);
  // flatten_to_rgb8 of opaque pixels gives the same bytes as reading "R'G'B' u8".
  std::vector<uint8_t> opaque(px);
  for (int i = 0; i < 256; ++i) opaque[i * 4 + 3] = 255;
  GeglBuffer* op = make_buffer("R'G'B'A u8", 0, 0, 256, 1, opaque);
  RgbImage rgb = flatten_to_rgb8(read_rgba(op, Region{0, 0, 256, 1}));
  for (int i = 0; i < 256; ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(rgb.pixels[i * 3 + c], opaque[i * 4 + c]) << i;
  g_object_unref(src);
  g_object_unref(dst);
  g_object_unref(op);
}

TEST(PixelTransfer, RegionsUseBufferCoordinatesAndOffsets) {
  // A 4x3 buffer whose extent starts at (10, 20), like a selection read in image coordinates
  // for a layer at offset (10, 20). Pixel value = 10*x + y (x, y within the extent).
  std::vector<uint8_t> px(4 * 3 * 4);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) {
      uint8_t* p = &px[(y * 4 + x) * 4];
      p[0] = static_cast<uint8_t>(10 * x + y);
      p[1] = p[2] = 0;
      p[3] = 255;
    }
  GeglBuffer* b = make_buffer("R'G'B'A u8", 10, 20, 4, 3, px);
  FloatImage part = read_rgba(b, Region{11, 21, 2, 2});
  ASSERT_EQ(part.width, 2);
  ASSERT_EQ(part.height, 2);
  EXPECT_NEAR(part.pixels[0] * 255, 11, 1e-3);   // (1,1)
  EXPECT_NEAR(part.pixels[4] * 255, 21, 1e-3);   // (2,1)
  EXPECT_NEAR(part.pixels[8] * 255, 12, 1e-3);   // (1,2)
  EXPECT_NEAR(part.pixels[12] * 255, 22, 1e-3);  // (2,2)
  // Outside the extent: transparent black.
  FloatImage outside = read_rgba(b, Region{9, 20, 1, 1});
  for (float v : outside.pixels) EXPECT_EQ(v, 0.0f);
  // Writing a region changes only that region.
  write_rgba(b, Region{12, 22, 1, 1}, rgba(1, 1, {1, 1, 1, 1}));
  FloatImage all = read_rgba(b, Region{10, 20, 4, 3});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) {
      const float r = all.pixels[(y * 4 + x) * 4] * 255;
      if (x == 2 && y == 2)
        EXPECT_EQ(r, 255);
      else
        EXPECT_NEAR(r, 10 * x + y, 1e-3);
    }
  g_object_unref(b);
}

TEST(PixelTransfer, SelectionMaskReadsWeights) {
  // read_mask reads linear "Y float", as GIMP's own filters read the selection; a linear float
  // mask therefore comes back unchanged, clamped to [0,1].
  std::vector<float> m = {0.0f, 0.25f, 0.5f, 1.0f, 1.5f, -0.5f};
  GeglBuffer* b = make_buffer("Y float", 0, 0, 3, 2, m);
  std::vector<float> w = read_mask(b, Region{0, 0, 3, 2});
  ASSERT_EQ(w.size(), 6u);
  EXPECT_EQ(w[0], 0.0f);
  EXPECT_NEAR(w[1], 0.25f, 1e-6);
  EXPECT_NEAR(w[2], 0.5f, 1e-6);
  EXPECT_EQ(w[3], 1.0f);
  EXPECT_EQ(w[4], 1.0f);  // clamped
  EXPECT_EQ(w[5], 0.0f);
  std::vector<float> sub = read_mask(b, Region{1, 1, 2, 1});
  ASSERT_EQ(sub.size(), 2u);
  EXPECT_EQ(sub[0], 1.0f);
  g_object_unref(b);

  // An 8-bit mask: 255 is fully selected, 0 not at all, whatever the encoding.
  std::vector<uint8_t> m8 = {0, 255};
  GeglBuffer* b8 = make_buffer("Y' u8", 0, 0, 2, 1, m8);
  std::vector<float> w8 = read_mask(b8, Region{0, 0, 2, 1});
  EXPECT_EQ(w8[0], 0.0f);
  EXPECT_NEAR(w8[1], 1.0f, 1e-6);
  g_object_unref(b8);
}

TEST(PixelTransfer, FlattenOnWhiteAndBack) {
  // Opaque red, half-transparent blue, fully transparent green.
  FloatImage img = rgba(3, 1, {1, 0, 0, 1, 0, 0, 1, 0.5f, 0, 1, 0, 0});
  RgbImage rgb = flatten_to_rgb8(img);
  const std::vector<uint8_t> want = {255, 0, 0, 128, 128, 255, 255, 255, 255};
  EXPECT_EQ(rgb.pixels, want);
  FloatImage flat = flatten(img);
  EXPECT_EQ(flat.channels, 4);
  EXPECT_NEAR(flat.pixels[4], 0.5f, 1e-6);
  EXPECT_EQ(flat.pixels[7], 0.5f);  // alpha kept
  // unflatten undoes it for partially transparent pixels.
  FloatImage back = unflatten(flat);
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(back.pixels[4 + c], img.pixels[4 + c], 1e-6);
  for (int c = 0; c < 4; ++c) EXPECT_EQ(back.pixels[c], img.pixels[c]);
  // A 3-channel image is opaque.
  FloatImage three;
  three.width = 1;
  three.height = 1;
  three.channels = 3;
  three.pixels = {0.2f, 0.4f, 0.6f};
  FloatImage f3 = flatten(three);
  EXPECT_EQ(f3.pixels[3], 1.0f);
  EXPECT_EQ(f3.pixels[1], 0.4f);
}

TEST(PixelTransfer, BlendThroughMask) {
  FloatImage orig = rgba(3, 1, {0, 0, 0, 1, 0, 0, 0, 0.5f, 0.3f, 0.3f, 0.3f, 1});
  FloatImage edit = rgba(3, 1, {1, 1, 1, 1, 1, 1, 1, 0.5f, 1, 1, 1, 1});
  const std::vector<float> mask = {1.0f, 0.5f, 0.0f};
  FloatImage copy = blend_through_mask(orig, edit, mask, OutsideSelection::CopyOriginal);
  EXPECT_EQ(copy.pixels[0], 1.0f);  // fully selected: edited
  EXPECT_EQ(copy.pixels[4], 0.5f);  // feathered: half way
  EXPECT_EQ(copy.pixels[7], 0.5f);  // layer alpha kept
  for (int c = 0; c < 4; ++c) EXPECT_EQ(copy.pixels[8 + c], orig.pixels[8 + c]);  // exact copy
  FloatImage transparent = blend_through_mask(orig, edit, mask, OutsideSelection::Transparent);
  EXPECT_EQ(transparent.pixels[0], 1.0f);
  EXPECT_EQ(transparent.pixels[3], 1.0f);
  EXPECT_EQ(transparent.pixels[4], 1.0f);   // colour is the edit's
  EXPECT_EQ(transparent.pixels[7], 0.25f);  // alpha = layer alpha * weight
  EXPECT_EQ(transparent.pixels[11], 0.0f);  // unselected: transparent
  // No mask: everything selected.
  FloatImage all = blend_through_mask(orig, edit, {}, OutsideSelection::Transparent);
  EXPECT_EQ(all.pixels[11], 1.0f);
  EXPECT_EQ(all.pixels[7], 0.5f);
  EXPECT_THROW(
      blend_through_mask(orig, rgba(1, 1, {0, 0, 0, 0}), {}, OutsideSelection::Transparent), Error);
}

TEST(PixelTransfer, PasteAndRgb8) {
  FloatImage canvas = rgba(3, 2, std::vector<float>(24, 0.0f));
  paste(canvas, rgba(1, 1, {1, 2, 3, 4}), 2, 1);
  EXPECT_EQ(canvas.pixels[(1 * 3 + 2) * 4 + 3], 4.0f);
  EXPECT_THROW(paste(canvas, rgba(2, 1, {0, 0, 0, 0, 0, 0, 0, 0}), 2, 1), Error);
  RgbImage r;
  r.width = 1;
  r.height = 1;
  r.pixels = {0, 51, 255};
  FloatImage f = rgb8_to_float(r);
  EXPECT_EQ(f.channels, 3);
  EXPECT_NEAR(f.pixels[1], 0.2f, 1e-6);
}

int main(int argc, char** argv) {
  gegl_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  gegl_exit();
  return rc;
}
