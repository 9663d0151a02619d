#include "plugin/gimp_io.h"

namespace editclip::gimp {

namespace {

std::string take(gchar* s) {
  std::string out = s ? s : "";
  g_free(s);
  return out;
}

// Owns a GeglBuffer reference; unref flushes pending writes back to GIMP.
struct Buffer {
  explicit Buffer(gint32 drawable) : b(gimp_drawable_get_buffer(drawable)) {
    if (!b) throw_error("cannot read the pixels of drawable ", drawable);
  }
  ~Buffer() { g_object_unref(b); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  GeglBuffer* b;
};

}  // namespace

std::string item_name(gint32 item) {
  return take(gimp_item_get_name(item));
}

std::string image_name(gint32 image) {
  std::string name = take(gimp_image_get_name(image));
  if (name.empty()) return concat("image #", image);
  // Unsaved images are all "[Untitled]"; GIMP's title bar tells them apart by the id.
  if (take(gimp_image_get_filename(image)).empty() &&
      take(gimp_image_get_imported_uri(image)).empty())
    name += concat("-", image);
  return name;
}

void check_exemplar(gint32 drawable, const char* what) {
  if (drawable <= 0 || !gimp_item_is_valid(drawable) || !gimp_item_is_drawable(drawable))
    throw CallingError(concat(what, ": not a layer of an open image (id ", drawable, ")"));
  if (gimp_item_is_group(drawable))
    throw CallingError(concat(what, " '", item_name(drawable),
                              "' is a layer group; pick a single layer (or merge the group)"));
}

RgbImage read_exemplar(gint32 drawable, const char* what) {
  check_exemplar(drawable, what);
  Buffer buffer(drawable);
  const Region all{0, 0, gimp_drawable_width(drawable), gimp_drawable_height(drawable)};
  return flatten_to_rgb8(read_rgba(buffer.b, all));
}

QueryLayer read_query(gint32 image, gint32 drawable) {
  if (image <= 0 || !gimp_image_is_valid(image))
    throw CallingError(concat("image ", image, " is not an open image"));
  if (drawable <= 0 || !gimp_item_is_valid(drawable) || !gimp_item_is_drawable(drawable))
    throw CallingError(concat("drawable ", drawable, " is not a layer of an open image"));
  if (gimp_item_get_image(drawable) != image)
    throw CallingError(concat("layer '", item_name(drawable), "' does not belong to image '",
                              image_name(image), "'"));
  if (gimp_item_is_group(drawable))
    throw CallingError(concat("'", item_name(drawable),
                              "' is a layer group; select one of its layers (or merge the group) "
                              "and run EditCLIP again"));
  if (!gimp_item_is_layer(drawable))
    throw CallingError(
        concat("'", item_name(drawable), "' is a channel or layer mask; select a layer to edit"));
  if (gimp_image_base_type(image) == GIMP_INDEXED)
    throw CallingError(concat("image '", image_name(image),
                              "' is indexed: the result could only keep its palette's colours. "
                              "Convert it with Image > Mode > RGB, then run EditCLIP again"));
  QueryLayer q;
  q.image = image;
  q.layer = drawable;
  q.width = gimp_drawable_width(drawable);
  q.height = gimp_drawable_height(drawable);
  gimp_drawable_offsets(drawable, &q.offset_x, &q.offset_y);
  q.gray = gimp_image_base_type(image) == GIMP_GRAY;
  q.opacity = gimp_layer_get_opacity(drawable);
  q.mode = gimp_layer_get_mode(drawable);
  q.blend_space = gimp_layer_get_blend_space(drawable);
  q.composite_space = gimp_layer_get_composite_space(drawable);
  q.composite_mode = gimp_layer_get_composite_mode(drawable);
  gint x = 0, y = 0, w = 0, h = 0;
  if (!gimp_drawable_mask_intersect(drawable, &x, &y, &w, &h) || w <= 0 || h <= 0)
    throw CallingError(concat("the selection does not touch layer '", item_name(drawable),
                              "'; select part of the layer or use Select > None"));
  q.box = Region{x, y, w, h};
  {
    Buffer buffer(drawable);
    q.original = read_rgba(buffer.b, q.box);
  }
  if (!gimp_selection_is_empty(image)) {
    Buffer selection(gimp_image_get_selection(image));
    q.mask = read_mask(selection.b, Region{x + q.offset_x, y + q.offset_y, w, h});
  }
  return q;
}

FloatImage compose_layer(const QueryLayer& query, const FloatImage& edited_box,
                         OutsideSelection outside) {
  FloatImage canvas;
  canvas.width = query.width;
  canvas.height = query.height;
  canvas.channels = 4;
  const bool whole = query.box.x == 0 && query.box.y == 0 && query.box.width == query.width &&
                     query.box.height == query.height;
  if (whole) return edited_box;
  if (outside == OutsideSelection::CopyOriginal) {
    Buffer buffer(query.layer);
    canvas = read_rgba(buffer.b, Region{0, 0, query.width, query.height});
  } else {
    canvas.pixels.assign(static_cast<size_t>(query.width) * query.height * 4, 0.0f);
  }
  paste(canvas, edited_box, query.box.x, query.box.y);
  return canvas;
}

gint32 insert_result_layer(const QueryLayer& query, const FloatImage& pixels,
                           const std::string& name) {
  if (!gimp_item_is_valid(query.layer))
    throw_error("layer '", name, "': the query layer was closed while EditCLIP was running");
  gimp_image_undo_group_start(query.image);
  const gint32 layer =
      gimp_layer_new(query.image, name.c_str(), query.width, query.height,
                     query.gray ? GIMP_GRAYA_IMAGE : GIMP_RGBA_IMAGE, query.opacity, query.mode);
  bool ok = layer > 0 &&
            gimp_image_insert_layer(query.image, layer, gimp_item_get_parent(query.layer),
                                    gimp_image_get_item_position(query.image, query.layer)) &&
            gimp_layer_set_offsets(layer, query.offset_x, query.offset_y);
  if (ok) {
    // Only what differs from the new layer's defaults for this mode: legacy modes have fixed
    // spaces, and setting them (even to the same value) is an error.
    if (gimp_layer_get_blend_space(layer) != query.blend_space)
      gimp_layer_set_blend_space(layer, query.blend_space);
    if (gimp_layer_get_composite_space(layer) != query.composite_space)
      gimp_layer_set_composite_space(layer, query.composite_space);
    if (gimp_layer_get_composite_mode(layer) != query.composite_mode)
      gimp_layer_set_composite_mode(layer, query.composite_mode);
  }
  if (ok) {
    try {
      Buffer buffer(layer);
      write_rgba(buffer.b, Region{0, 0, query.width, query.height}, pixels);
    } catch (...) {
      ok = false;
    }
  }
  if (ok) gimp_drawable_update(layer, 0, 0, query.width, query.height);
  gimp_image_undo_group_end(query.image);
  if (!ok) {
    if (layer > 0 && gimp_item_is_valid(layer)) gimp_image_remove_layer(query.image, layer);
    throw_error("could not add the result layer to image '", image_name(query.image), "'");
  }
  return layer;
}

}  // namespace editclip::gimp
