// libgimp 2.10 glue: checking ids, reading layers and the selection, writing the result layer.
// Everything version-specific about images lives here and in plugin_main.cpp; the edit itself
// (plugin/edit_runner.h) only sees these plain structs.
#pragma once

#include <libgimp/gimp.h>

#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/editclip.h"
#include "plugin/pixel_transfer.h"

namespace editclip::gimp {

// A bad argument (maps to GIMP_PDB_CALLING_ERROR); other editclip::Error are execution errors.
class CallingError : public Error {
 public:
  explicit CallingError(const std::string& message) : Error(message) {}
};

std::string item_name(gint32 item);
std::string image_name(gint32 image);

// An exemplar (before/after) layer from any open image: must exist, be a drawable and not a
// layer group. `what` names the parameter in messages.
void check_exemplar(gint32 drawable, const char* what);
// The whole layer, composited on white, 8-bit: what the edit encoder sees.
RgbImage read_exemplar(gint32 drawable, const char* what);

// The part of the query layer an edit works on, read before anything is written.
struct QueryLayer {
  gint32 image = -1, layer = -1;
  int width = 0, height = 0;       // the layer
  int offset_x = 0, offset_y = 0;  // layer offsets in the image
  Region box;                      // processed part, layer coordinates (selection bounds)
  FloatImage original;             // box pixels, straight RGBA, sRGB-encoded
  std::vector<float> mask;         // selection weights for box, empty = no selection
  bool gray = false;               // gray image: the result layer is GRAYA
  // How the query is composited; the result layer gets the same, so that it stands in for the
  // query: with the query hidden, the image looks as before where the model changed nothing.
  double opacity = 100.0;
  GimpLayerMode mode = GIMP_LAYER_MODE_NORMAL;
  GimpLayerColorSpace blend_space = GIMP_LAYER_COLOR_SPACE_AUTO;
  GimpLayerColorSpace composite_space = GIMP_LAYER_COLOR_SPACE_AUTO;
  GimpLayerCompositeMode composite_mode = GIMP_LAYER_COMPOSITE_AUTO;
};
// Validates (a layer of `image`, not a group, image not indexed, the selection intersects the
// layer) and reads the pixels. Throws CallingError/Error with a user-facing message.
QueryLayer read_query(gint32 image, gint32 drawable);

// The full-size pixels of the new layer: `edited_box` (the box's result, already blended through
// the selection) placed into a layer-sized canvas that is transparent or the original outside.
FloatImage compose_layer(const QueryLayer& query, const FloatImage& edited_box,
                         OutsideSelection outside);

// The only write: inside one undo group, a new layer `name` of the query's size and offsets
// directly above it (same parent group), with its opacity, mode and blend/composite settings,
// filled with `pixels`. Returns the layer id.
gint32 insert_result_layer(const QueryLayer& query, const FloatImage& pixels,
                           const std::string& name);

}  // namespace editclip::gimp
