// Pixels between GEGL buffers (GIMP drawables, the selection) and the engine's images, plus the
// pure per-pixel steps around an edit: flattening for the model, restoring straight colours,
// blending through the selection mask.
//
// Depends on GEGL/babl only (no libgimp, no LibTorch), so it is unit-tested on in-memory buffers
// and a GIMP 3 front end can reuse it unchanged. Every image here is sRGB-encoded ("R'G'B'A
// float"): that is what the engine's 8-bit images mean, and GIMP 2.10 images are sRGB. babl
// converts from whatever the buffer holds (8/16/32-bit, linear or perceptual, gray, indexed).
#pragma once

#include <gegl.h>

#include <vector>

#include "engine/editclip.h"
#include "plugin/procedure_params.h"

namespace editclip::gimp {

// A rectangle in a buffer's own coordinates.
struct Region {
  int x = 0, y = 0, width = 0, height = 0;
  bool empty() const { return width <= 0 || height <= 0; }
};

// `region` of `buffer` as straight (non-premultiplied) RGBA floats in [0,1], sRGB-encoded.
// Pixels outside the buffer's extent read as transparent black.
FloatImage read_rgba(GeglBuffer* buffer, const Region& region);
// Writes a 4-channel image into `region` (same size); GEGL converts to the buffer's format.
void write_rgba(GeglBuffer* buffer, const Region& region, const FloatImage& image);
// The selection (or any mask) as per-pixel weights in [0,1], row-major, region.width*height.
std::vector<float> read_mask(GeglBuffer* mask, const Region& region);

// What the model sees: RGBA composited over `background` (white, as the CLI does for files with
// alpha), rounded to 8 bits. Accepts 3- or 4-channel images.
RgbImage flatten_to_rgb8(const FloatImage& image, float background = 1.0f);
// The same composite, kept in float, with the alpha channel kept (4 channels out).
FloatImage flatten(const FloatImage& image, float background = 1.0f);
// Inverse of flatten() for a result: colours that, composited over `background` with the
// original alpha, give `flat`'s colours. An unedited pixel gets its original colour back, so
// semi-transparent edges are not lightened. Fully transparent pixels keep `flat`'s colour.
FloatImage unflatten(const FloatImage& flat, float background = 1.0f);

// The new layer's pixels inside the processed region: `edited` (full resolution, straight colours)
// blended with `original` by `mask` (empty = everything selected).
//   CopyOriginal: colour = mix(original, edited, m), alpha = original alpha
//   Transparent:  colour = edited, alpha = original alpha * m
// so unselected pixels are either an exact copy or fully transparent.
FloatImage blend_through_mask(const FloatImage& original, const FloatImage& edited,
                              const std::vector<float>& mask, OutsideSelection outside);

// 8-bit RGB <-> float RGB(A) without touching the engine library.
FloatImage rgb8_to_float(const RgbImage& image);

// Copies `part` into `canvas` at (x, y) (both 4-channel; part must fit).
void paste(FloatImage& canvas, const FloatImage& part, int x, int y);

}  // namespace editclip::gimp
