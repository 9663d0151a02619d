#include "plugin/pixel_transfer.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"

namespace editclip::gimp {

namespace {

const Babl* rgba_float() {
  return babl_format("R'G'B'A float");
}

uint8_t to_u8(float v) {
  // Same rounding as GEGL's float -> u8 conversion, so a layer read as float and rounded here
  // equals the layer read as "R'G'B' u8".
  return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
}

void require_channels(const FloatImage& image, int channels, const char* what) {
  if (image.channels != channels)
    throw_error(what, ": expected ", channels, " channels, got ", image.channels);
  if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * channels)
    throw_error(what, ": pixel buffer size does not match ", image.width, "x", image.height);
}

}  // namespace

FloatImage read_rgba(GeglBuffer* buffer, const Region& region) {
  FloatImage out;
  out.width = region.width;
  out.height = region.height;
  out.channels = 4;
  if (region.empty()) return out;
  out.pixels.resize(static_cast<size_t>(region.width) * region.height * 4);
  const GeglRectangle r{region.x, region.y, region.width, region.height};
  gegl_buffer_get(buffer, &r, 1.0, rgba_float(), out.pixels.data(), GEGL_AUTO_ROWSTRIDE,
                  GEGL_ABYSS_NONE);
  return out;
}

void write_rgba(GeglBuffer* buffer, const Region& region, const FloatImage& image) {
  require_channels(image, 4, "write_rgba");
  if (image.width != region.width || image.height != region.height)
    throw_error("write_rgba: image is ", image.width, "x", image.height, " but the region is ",
                region.width, "x", region.height);
  if (region.empty()) return;
  const GeglRectangle r{region.x, region.y, region.width, region.height};
  gegl_buffer_set(buffer, &r, 0, rgba_float(), image.pixels.data(), GEGL_AUTO_ROWSTRIDE);
}

std::vector<float> read_mask(GeglBuffer* mask, const Region& region) {
  std::vector<float> out(static_cast<size_t>(std::max(0, region.width)) *
                         std::max(0, region.height));
  if (region.empty()) return out;
  const GeglRectangle r{region.x, region.y, region.width, region.height};
  // Linear "Y float" is how GIMP's own filters and layer modes read the selection (their mask
  // inputs request that format), so a feathered edge weighs here exactly as it does for them.
  gegl_buffer_get(mask, &r, 1.0, babl_format("Y float"), out.data(), GEGL_AUTO_ROWSTRIDE,
                  GEGL_ABYSS_NONE);
  for (float& v : out) v = std::clamp(v, 0.0f, 1.0f);
  return out;
}

FloatImage flatten(const FloatImage& image, float background) {
  if (image.channels != 3 && image.channels != 4)
    throw_error("flatten: expected 3 or 4 channels, got ", image.channels);
  FloatImage out;
  out.width = image.width;
  out.height = image.height;
  out.channels = 4;
  const size_t n = static_cast<size_t>(image.width) * image.height;
  out.pixels.resize(n * 4);
  for (size_t i = 0; i < n; ++i) {
    const float* p = &image.pixels[i * image.channels];
    const float a = image.channels == 4 ? std::clamp(p[3], 0.0f, 1.0f) : 1.0f;
    float* o = &out.pixels[i * 4];
    for (int c = 0; c < 3; ++c) o[c] = p[c] * a + background * (1.0f - a);
    o[3] = a;
  }
  return out;
}

RgbImage flatten_to_rgb8(const FloatImage& image, float background) {
  const FloatImage flat = flatten(image, background);
  RgbImage out;
  out.width = flat.width;
  out.height = flat.height;
  const size_t n = static_cast<size_t>(flat.width) * flat.height;
  out.pixels.resize(n * 3);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = to_u8(flat.pixels[i * 4 + c]);
  return out;
}

FloatImage unflatten(const FloatImage& flat, float background) {
  require_channels(flat, 4, "unflatten");
  FloatImage out = flat;
  const size_t n = static_cast<size_t>(flat.width) * flat.height;
  for (size_t i = 0; i < n; ++i) {
    float* p = &out.pixels[i * 4];
    const float a = p[3];
    if (a <= 0.0f || a >= 1.0f) continue;
    for (int c = 0; c < 3; ++c) p[c] = std::clamp((p[c] - background * (1.0f - a)) / a, 0.0f, 1.0f);
  }
  return out;
}

FloatImage blend_through_mask(const FloatImage& original, const FloatImage& edited,
                              const std::vector<float>& mask, OutsideSelection outside) {
  require_channels(original, 4, "blend_through_mask (original)");
  require_channels(edited, 4, "blend_through_mask (edited)");
  if (original.width != edited.width || original.height != edited.height)
    throw_error("blend_through_mask: original ", original.width, "x", original.height,
                " and edited ", edited.width, "x", edited.height, " differ in size");
  const size_t n = static_cast<size_t>(original.width) * original.height;
  if (!mask.empty() && mask.size() != n)
    throw_error("blend_through_mask: mask has ", mask.size(), " values for ", n, " pixels");
  FloatImage out = edited;
  for (size_t i = 0; i < n; ++i) {
    const float m = mask.empty() ? 1.0f : mask[i];
    const float* o = &original.pixels[i * 4];
    float* r = &out.pixels[i * 4];
    if (outside == OutsideSelection::CopyOriginal) {
      if (m <= 0.0f) {
        std::copy(o, o + 4, r);  // exact copy, no float round trip through a blend
        continue;
      }
      for (int c = 0; c < 3; ++c) r[c] = o[c] + (r[c] - o[c]) * m;
      r[3] = o[3];
    } else {
      r[3] = o[3] * m;
    }
  }
  return out;
}

FloatImage rgb8_to_float(const RgbImage& image) {
  FloatImage out;
  out.width = image.width;
  out.height = image.height;
  out.channels = 3;
  out.pixels.resize(image.pixels.size());
  for (size_t i = 0; i < image.pixels.size(); ++i) out.pixels[i] = image.pixels[i] / 255.0f;
  return out;
}

void paste(FloatImage& canvas, const FloatImage& part, int x, int y) {
  require_channels(canvas, 4, "paste (canvas)");
  require_channels(part, 4, "paste (part)");
  if (x < 0 || y < 0 || x + part.width > canvas.width || y + part.height > canvas.height)
    throw_error("paste: ", part.width, "x", part.height, " at ", x, ",", y, " does not fit in ",
                canvas.width, "x", canvas.height);
  for (int row = 0; row < part.height; ++row)
    std::copy_n(&part.pixels[static_cast<size_t>(row) * part.width * 4], part.width * 4,
                &canvas.pixels[(static_cast<size_t>(y + row) * canvas.width + x) * 4]);
}

}  // namespace editclip::gimp
