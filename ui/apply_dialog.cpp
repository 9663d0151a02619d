// Apply Exemplar Edit… / Apply to All Open Images: where the edit comes from (exemplar layers, a
// preset, or the average of presets), the query preview, and the sampling settings.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "ui/dialog_util.h"
#include "ui/dialogs.h"

namespace editclip::gimp {

using namespace detail;

namespace {

constexpr int kQueryThumb = 160;
constexpr int kLayerThumb = 48;
constexpr int kPresetThumb = 56;
constexpr int kPreviewWidth = 150;

// Mirrors editclip::processing_size (which lives in the LibTorch-linked engine library and so is
// not callable from the dialog); display only, the engine decides.
std::pair<int, int> shown_processing_size(int w, int h, int size) {
  size = std::max(8, static_cast<int>(std::lround(size / 8.0)) * 8);
  const double scale = size / std::sqrt(static_cast<double>(w) * h);
  auto side = [&](int v) {
    return std::max(8, static_cast<int>(std::lround(v * scale / 8.0)) * 8);
  };
  return {side(w), side(h)};
}

enum PresetColumn { COL_PATH, COL_NAME, COL_SINGLE, COL_MULTI, N_COLS };

struct CachedPreview {
  bool ok = false;
  PresetPreview preview;
  std::string error;
};

struct PresetPage {
  GtkWidget* view = nullptr;
  GtkWidget* preview_box = nullptr;  // rebuilt on every cursor change
  bool multi = false;
};

struct ApplyDialog {
  ApplySettings v;
  const ApplyDialogHooks* hooks = nullptr;
  int32_t image = -1, drawable = -1;
  bool batch = false;
  // What the model sees of the query: the selection's bounding box within the layer, or the
  // whole layer. region_ok is false when the selection misses the layer.
  int region_w = 0, region_h = 0;
  bool has_selection = false, region_ok = true;

  GtkWidget* dialog = nullptr;
  GtkWidget* notebook = nullptr;
  GtkWidget* before_combo = nullptr;
  GtkWidget* after_combo = nullptr;
  GtkWidget* before_thumb = nullptr;
  GtkWidget* after_thumb = nullptr;
  GtkListStore* presets = nullptr;
  PresetPage single, multi;
  GtkWidget* size_spin = nullptr;
  GtkWidget* size_note = nullptr;
  GtkWidget* error_label = nullptr;
  GtkWidget* warning_box = nullptr;
  GtkWidget* warning_label = nullptr;
  std::map<std::string, CachedPreview> cache;
};

std::string basename_without_ext(const std::string& path) {
  gchar* base = g_path_get_basename(path.c_str());
  std::string name = base;
  g_free(base);
  const size_t dot = name.rfind(".editclip");
  if (dot != std::string::npos && dot + 9 == name.size()) name.resize(dot);
  return name;
}

// ---- exemplar layers ----------------------------------------------------------------------------

void on_layer_changed(GtkWidget* combo, gpointer data) {
  auto* d = static_cast<ApplyDialog*>(data);
  GtkWidget* thumb = combo == d->before_combo ? d->before_thumb : d->after_thumb;
  set_thumbnail(thumb, combo_layer(combo), kLayerThumb);
  set_error_text(d->error_label, "");
}

GtkWidget* make_layers_page(ApplyDialog* d) {
  GtkWidget* vbox = gtk_vbox_new(FALSE, 6);
  gtk_container_set_border_width(GTK_CONTAINER(vbox), 8);
  GtkWidget* table = form_table(2);
  gtk_box_pack_start(GTK_BOX(vbox), table, FALSE, FALSE, 0);

  // Guess the pair from layer names the first time (no valid last values).
  d->before_combo =
      attach_layer_row(GTK_TABLE(table), 0,
                       "_Before:", "The exemplar's original image: any layer of any open image.",
                       usable_or_named(d->v.before_layer, "before"), kLayerThumb, &d->before_thumb);
  d->after_combo = attach_layer_row(
      GTK_TABLE(table), 1, "_After:",
      "The exemplar's edited image. The change from Before to After is what gets applied to the "
      "query. It may differ in size from Before: both are resized for the model.",
      usable_or_named(d->v.after_layer, "after"), kLayerThumb, &d->after_thumb);
  g_signal_connect(d->before_combo, "changed", G_CALLBACK(on_layer_changed), d);
  g_signal_connect(d->after_combo, "changed", G_CALLBACK(on_layer_changed), d);

  gtk_box_pack_start(GTK_BOX(vbox),
                     hint_label("The edit that turns Before into After is applied to the query. "
                                "Layers may come from any open image; groups are not listed."),
                     FALSE, FALSE, 0);
  return vbox;
}

// ---- presets ------------------------------------------------------------------------------------

const CachedPreview& preview_for(ApplyDialog* d, const std::string& path) {
  auto it = d->cache.find(path);
  if (it != d->cache.end()) return it->second;
  CachedPreview c;
  try {
    c.preview = d->hooks->load_preset_preview(path);
    c.ok = true;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));  // LibTorch errors carry a backtrace
    c.error = msg;
  }
  return d->cache.emplace(path, std::move(c)).first->second;
}

void clear_container(GtkWidget* box) {
  GList* children = gtk_container_get_children(GTK_CONTAINER(box));
  for (GList* l = children; l; l = l->next) gtk_widget_destroy(GTK_WIDGET(l->data));
  g_list_free(children);
}

GtkWidget* pixbuf_image(GdkPixbuf* pb) {
  GtkWidget* image = pb ? gtk_image_new_from_pixbuf(pb) : gtk_image_new();
  if (pb) g_object_unref(pb);
  return image;
}

// A wrapped note that fits the preview column; long paths break anywhere.
GtkWidget* preview_note(const std::string& text) {
  GtkWidget* label = hint_label(text);
  gtk_label_set_line_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
  gtk_widget_set_size_request(label, kPreviewWidth, -1);
  set_tip(label, text.c_str());
  return label;
}

void show_preset_preview(ApplyDialog* d, PresetPage* page, const std::string& path) {
  GtkWidget* box = page->preview_box;
  clear_container(box);
  if (path.empty()) {
    gtk_box_pack_start(GTK_BOX(box),
                       preview_note("Pick a preset to see the exemplar it was made from."), FALSE,
                       FALSE, 0);
    gtk_widget_show_all(box);
    return;
  }
  std::string title = basename_without_ext(path);
  const CachedPreview* c = nullptr;
  if (d->hooks && d->hooks->load_preset_preview) {
    GdkWindow* win = gtk_widget_get_window(d->dialog);
    GdkCursor* busy = win ? gdk_cursor_new(GDK_WATCH) : nullptr;
    if (win) {
      gdk_window_set_cursor(win, busy);
      gdk_flush();
    }
    c = &preview_for(d, path);
    if (win) {
      gdk_window_set_cursor(win, nullptr);
      gdk_cursor_unref(busy);
    }
    if (c->ok && !c->preview.name.empty()) title = c->preview.name;
  }
  GtkWidget* name = gtk_label_new(nullptr);
  set_markup(name, "<b>%s</b>", title.c_str());
  gtk_misc_set_alignment(GTK_MISC(name), 0.0, 0.5);
  gtk_label_set_ellipsize(GTK_LABEL(name), PANGO_ELLIPSIZE_END);
  gtk_widget_set_size_request(name, kPreviewWidth, -1);
  set_tip(name, path.c_str());
  gtk_box_pack_start(GTK_BOX(box), name, FALSE, FALSE, 0);

  if (!c) {
    gtk_box_pack_start(GTK_BOX(box), preview_note("No thumbnails: the engine is not loaded."),
                       FALSE, FALSE, 0);
  } else if (!c->ok) {
    gtk_box_pack_start(GTK_BOX(box), preview_note("Cannot read this preset: " + c->error), FALSE,
                       FALSE, 0);
  } else {
    const auto& pairs = c->preview.thumbnails;
    const size_t shown = std::min<size_t>(pairs.size(), 3);
    for (size_t i = 0; i < shown; ++i) {
      GtkWidget* row = gtk_hbox_new(FALSE, 4);
      gtk_box_pack_start(GTK_BOX(row), pixbuf_image(rgb_pixbuf(pairs[i].first, kPresetThumb)),
                         FALSE, FALSE, 0);
      gtk_box_pack_start(GTK_BOX(row), gtk_arrow_new(GTK_ARROW_RIGHT, GTK_SHADOW_NONE), FALSE,
                         FALSE, 0);
      gtk_box_pack_start(GTK_BOX(row), pixbuf_image(rgb_pixbuf(pairs[i].second, kPresetThumb)),
                         FALSE, FALSE, 0);
      gtk_box_pack_start(GTK_BOX(box), row, FALSE, FALSE, 0);
    }
    if (pairs.empty())
      gtk_box_pack_start(GTK_BOX(box), preview_note("(saved without thumbnails)"), FALSE, FALSE, 0);
    if (pairs.size() > shown) {
      gtk_box_pack_start(GTK_BOX(box),
                         preview_note("+ " + std::to_string(pairs.size() - shown) + " more pairs"),
                         FALSE, FALSE, 0);
    }
  }
  gtk_widget_show_all(box);
}

std::string row_path(GtkTreeModel* model, GtkTreeIter* iter) {
  gchar* p = nullptr;
  gtk_tree_model_get(model, iter, COL_PATH, &p, -1);
  std::string out = p ? p : "";
  g_free(p);
  return out;
}

void on_cursor_changed(GtkTreeView* view, gpointer data) {
  auto* d = static_cast<ApplyDialog*>(data);
  PresetPage* page = GTK_WIDGET(view) == d->single.view ? &d->single : &d->multi;
  GtkTreeIter iter;
  GtkTreeModel* model = nullptr;
  GtkTreeSelection* sel = gtk_tree_view_get_selection(view);
  std::string path;
  if (gtk_tree_selection_get_selected(sel, &model, &iter)) path = row_path(model, &iter);
  show_preset_preview(d, page, path);
}

int count_multi(GtkTreeModel* model) {
  int n = 0;
  GtkTreeIter iter;
  for (gboolean ok = gtk_tree_model_get_iter_first(model, &iter); ok;
       ok = gtk_tree_model_iter_next(model, &iter)) {
    gboolean on = FALSE;
    gtk_tree_model_get(model, &iter, COL_MULTI, &on, -1);
    n += on ? 1 : 0;
  }
  return n;
}

void on_single_toggled(GtkCellRendererToggle*, gchar* path_str, gpointer data) {
  auto* d = static_cast<ApplyDialog*>(data);
  GtkTreeModel* model = GTK_TREE_MODEL(d->presets);
  GtkTreeIter iter;
  for (gboolean ok = gtk_tree_model_get_iter_first(model, &iter); ok;
       ok = gtk_tree_model_iter_next(model, &iter))
    gtk_list_store_set(d->presets, &iter, COL_SINGLE, FALSE, -1);
  if (gtk_tree_model_get_iter_from_string(model, &iter, path_str))
    gtk_list_store_set(d->presets, &iter, COL_SINGLE, TRUE, -1);
  GtkTreePath* path = gtk_tree_path_new_from_string(path_str);
  gtk_tree_view_set_cursor(GTK_TREE_VIEW(d->single.view), path, nullptr, FALSE);
  gtk_tree_path_free(path);
  set_error_text(d->error_label, "");
}

void on_multi_toggled(GtkCellRendererToggle*, gchar* path_str, gpointer data) {
  auto* d = static_cast<ApplyDialog*>(data);
  GtkTreeModel* model = GTK_TREE_MODEL(d->presets);
  GtkTreeIter iter;
  if (!gtk_tree_model_get_iter_from_string(model, &iter, path_str)) return;
  gboolean on = FALSE;
  gtk_tree_model_get(model, &iter, COL_MULTI, &on, -1);
  if (!on && count_multi(model) >= kMaxPresetPaths) {
    set_error_text(d->error_label,
                   "At most " + std::to_string(kMaxPresetPaths) + " presets can be averaged.");
    return;
  }
  gtk_list_store_set(d->presets, &iter, COL_MULTI, !on, -1);
  GtkTreePath* path = gtk_tree_path_new_from_string(path_str);
  gtk_tree_view_set_cursor(GTK_TREE_VIEW(d->multi.view), path, nullptr, FALSE);
  gtk_tree_path_free(path);
  set_error_text(d->error_label, "");
}

void fill_preset_store(ApplyDialog* d) {
  d->presets =
      gtk_list_store_new(N_COLS, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_BOOLEAN, G_TYPE_BOOLEAN);
  std::vector<std::string> files = list_preset_files();
  // Presets chosen earlier (or given to the PDB) may live outside the folder: keep them listed.
  for (int i = 0; i < std::min(d->v.preset_count, kMaxPresetPaths); ++i) {
    std::string p(d->v.preset_paths[i], strnlen(d->v.preset_paths[i], kPathCapacity));
    if (!p.empty() && std::find(files.begin(), files.end(), p) == files.end() &&
        g_file_test(p.c_str(), G_FILE_TEST_IS_REGULAR))
      files.push_back(p);
  }
  bool single_taken = false;
  for (const auto& f : files) {
    bool chosen = false;
    for (int i = 0; i < std::min(d->v.preset_count, kMaxPresetPaths); ++i)
      chosen = chosen || f == d->v.preset_paths[i];
    const bool single = chosen && d->v.source == EditSource::Preset && !single_taken;
    single_taken = single_taken || single;
    const bool multi = chosen && d->v.source == EditSource::Average;
    GtkTreeIter iter;
    gtk_list_store_append(d->presets, &iter);
    gtk_list_store_set(d->presets, &iter, COL_PATH, f.c_str(), COL_NAME,
                       basename_without_ext(f).c_str(), COL_SINGLE, single, COL_MULTI, multi, -1);
  }
  // A single preset picked earlier: pre-select it in the average list too (and vice versa), so
  // switching tabs starts from the same choice.
  GtkTreeModel* model = GTK_TREE_MODEL(d->presets);
  GtkTreeIter iter;
  bool any_single = false;
  for (gboolean ok = gtk_tree_model_get_iter_first(model, &iter); ok;
       ok = gtk_tree_model_iter_next(model, &iter)) {
    gboolean s = FALSE;
    gtk_tree_model_get(model, &iter, COL_SINGLE, &s, -1);
    any_single = any_single || s;
  }
  if (any_single && count_multi(model) == 0) {
    for (gboolean ok = gtk_tree_model_get_iter_first(model, &iter); ok;
         ok = gtk_tree_model_iter_next(model, &iter)) {
      gboolean s = FALSE;
      gtk_tree_model_get(model, &iter, COL_SINGLE, &s, -1);
      if (s) gtk_list_store_set(d->presets, &iter, COL_MULTI, TRUE, -1);
    }
  }
  if (!any_single && gtk_tree_model_get_iter_first(model, &iter)) {
    // Default for the single-preset tab: the first checked one, else the first file.
    GtkTreeIter pick = iter;
    for (gboolean ok = TRUE; ok; ok = gtk_tree_model_iter_next(model, &iter)) {
      gboolean m = FALSE;
      gtk_tree_model_get(model, &iter, COL_MULTI, &m, -1);
      if (m) {
        pick = iter;
        break;
      }
    }
    gtk_list_store_set(d->presets, &pick, COL_SINGLE, TRUE, -1);
  }
}

GtkWidget* make_preset_page(ApplyDialog* d, PresetPage* page, bool multi) {
  page->multi = multi;
  GtkWidget* vbox = gtk_vbox_new(FALSE, 6);
  gtk_container_set_border_width(GTK_CONTAINER(vbox), 8);
  GtkWidget* hbox = gtk_hbox_new(FALSE, 8);
  gtk_box_pack_start(GTK_BOX(vbox), hbox, TRUE, TRUE, 0);

  GtkWidget* scrolled = scrolled_window(190, 150);
  gtk_box_pack_start(GTK_BOX(hbox), scrolled, TRUE, TRUE, 0);

  page->view = gtk_tree_view_new_with_model(GTK_TREE_MODEL(d->presets));
  gtk_tree_view_set_headers_visible(GTK_TREE_VIEW(page->view), FALSE);
  GtkCellRenderer* toggle = gtk_cell_renderer_toggle_new();
  gtk_cell_renderer_toggle_set_radio(GTK_CELL_RENDERER_TOGGLE(toggle), !multi);
  gtk_tree_view_insert_column_with_attributes(GTK_TREE_VIEW(page->view), -1, "", toggle, "active",
                                              multi ? COL_MULTI : COL_SINGLE, nullptr);
  g_signal_connect(toggle, "toggled", G_CALLBACK(multi ? on_multi_toggled : on_single_toggled), d);
  GtkCellRenderer* text = gtk_cell_renderer_text_new();
  g_object_set(text, "ellipsize", PANGO_ELLIPSIZE_END, nullptr);
  gtk_tree_view_insert_column_with_attributes(GTK_TREE_VIEW(page->view), -1, "Preset", text, "text",
                                              COL_NAME, nullptr);
  gtk_tree_view_set_tooltip_column(GTK_TREE_VIEW(page->view), COL_PATH);
  gtk_container_add(GTK_CONTAINER(scrolled), page->view);

  page->preview_box = gtk_vbox_new(FALSE, 4);
  gtk_widget_set_size_request(page->preview_box, kPreviewWidth, -1);
  gtk_box_pack_start(GTK_BOX(hbox), page->preview_box, FALSE, FALSE, 0);

  const std::string folder = preset_folder();
  std::string hint = multi
                         ? "The edits of all checked presets are averaged (at most " +
                               std::to_string(kMaxPresetPaths) +
                               "): several exemplars of one edit give a steadier result."
                         : "Uses an edit saved earlier with Save Edit Preset…, instead of layers.";
  if (gtk_tree_model_iter_n_children(GTK_TREE_MODEL(d->presets), nullptr) == 0)
    hint =
        "No presets saved yet. Save one with Filters > EditCLIP > Save Edit Preset…; they are "
        "kept in " +
        folder + ".";
  gtk_box_pack_start(GTK_BOX(vbox), hint_label(hint), FALSE, FALSE, 0);
  set_tip(page->view, multi ? "Check the presets whose edits are averaged."
                            : "The saved edit to apply. Presets are files in your GIMP profile.");

  // Start on the chosen row so its thumbnails show at once.
  GtkTreeModel* model = GTK_TREE_MODEL(d->presets);
  GtkTreeIter iter;
  int index = 0, first_on = -1;
  for (gboolean ok = gtk_tree_model_get_iter_first(model, &iter); ok;
       ok = gtk_tree_model_iter_next(model, &iter), ++index) {
    gboolean on = FALSE;
    gtk_tree_model_get(model, &iter, multi ? COL_MULTI : COL_SINGLE, &on, -1);
    if (on && first_on < 0) first_on = index;
  }
  g_signal_connect(page->view, "cursor-changed", G_CALLBACK(on_cursor_changed), d);
  if (first_on >= 0) {
    GtkTreePath* path = gtk_tree_path_new_from_indices(first_on, -1);
    gtk_tree_view_set_cursor(GTK_TREE_VIEW(page->view), path, nullptr, FALSE);
    gtk_tree_path_free(path);
  } else {
    show_preset_preview(d, page, "");
  }
  return vbox;
}

// ---- query --------------------------------------------------------------------------------------

std::vector<int32_t> open_images() {
  gint n = 0;
  gint* ids = gimp_image_list(&n);
  std::vector<int32_t> out(ids, ids + n);
  g_free(ids);
  return out;
}

GtkWidget* make_query_frame(ApplyDialog* d) {
  GtkWidget* frame = gimp_frame_new(d->batch ? "Queries" : "Query");
  GtkWidget* vbox = gtk_vbox_new(FALSE, 4);
  gtk_container_add(GTK_CONTAINER(frame), vbox);

  GtkWidget* thumb_frame = gtk_frame_new(nullptr);
  gtk_frame_set_shadow_type(GTK_FRAME(thumb_frame), GTK_SHADOW_IN);
  GtkWidget* align = gtk_alignment_new(0.5, 0.0, 0.0, 0.0);
  gtk_container_add(GTK_CONTAINER(align), thumb_frame);
  GtkWidget* thumb = gtk_image_new();
  set_thumbnail(thumb, d->drawable, kQueryThumb);
  gtk_container_add(GTK_CONTAINER(thumb_frame), thumb);
  gtk_box_pack_start(GTK_BOX(vbox), align, FALSE, FALSE, 0);

  std::string text;
  if (gimp_item_is_valid(d->drawable)) {
    gchar* name = gimp_item_get_name(d->drawable);
    text = std::string(name ? name : "?") + "\n" +
           std::to_string(gimp_drawable_width(d->drawable)) + " × " +
           std::to_string(gimp_drawable_height(d->drawable)) + " px";
    g_free(name);
    if (d->has_selection) {
      text += d->region_ok ? "\nedited inside the selection (" + std::to_string(d->region_w) +
                                 " × " + std::to_string(d->region_h) + ")"
                           : "\nthe selection misses this layer";
    }
  }
  if (d->batch) {
    // Name the images: the user sees at once which ones will get a new layer.
    const auto images = open_images();
    text = "The active layer of each of the " + std::to_string(images.size()) + " open images:";
    const size_t shown = std::min<size_t>(images.size(), 6);
    for (size_t i = 0; i < shown; ++i) {
      gchar* name = gimp_image_get_name(images[i]);
      text += std::string("\n") + (name ? name : "?");
      g_free(name);
    }
    if (images.size() > shown) text += "\n… and " + std::to_string(images.size() - shown) + " more";
  }
  GtkWidget* label = gtk_label_new(text.c_str());
  gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
  gtk_label_set_line_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_justify(GTK_LABEL(label), d->batch ? GTK_JUSTIFY_LEFT : GTK_JUSTIFY_CENTER);
  gtk_misc_set_alignment(GTK_MISC(label), d->batch ? 0.0 : 0.5, 0.0);
  gtk_widget_set_size_request(label, kQueryThumb, -1);
  gtk_box_pack_start(GTK_BOX(vbox), label, FALSE, FALSE, 0);
  set_tip(thumb, d->batch ? "Each open image's active layer is edited; each gets its own new layer."
                          : "The active layer is the query: the edit is applied to it, and the "
                            "result arrives as a new layer above it.");
  return frame;
}

// ---- settings -----------------------------------------------------------------------------------

void update_size_note(ApplyDialog* d) {
  const int value = gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(d->size_spin));
  const int rounded = std::max(8, static_cast<int>(std::lround(value / 8.0)) * 8);
  std::string note;
  if (rounded != value) note = "rounded to " + std::to_string(rounded) + "; ";
  if (!d->batch && d->region_ok && d->region_w > 0 && d->region_h > 0) {
    auto [w, h] = shown_processing_size(d->region_w, d->region_h, rounded);
    note += std::string(d->has_selection ? "the selection" : "this layer") + " is processed at " +
            std::to_string(w) + " × " + std::to_string(h);
  } else {
    note += "about " + std::to_string(rounded) + "² pixels, aspect kept";
  }
  gtk_label_set_text(GTK_LABEL(d->size_note), note.c_str());
}

void on_size_changed(GtkSpinButton*, gpointer data) {
  update_size_note(static_cast<ApplyDialog*>(data));
}

bool any_selection(const ApplyDialog* d) {
  if (!d->batch) return d->image > 0 && !gimp_selection_is_empty(d->image);
  for (int32_t img : open_images())
    if (!gimp_selection_is_empty(img)) return true;
  return false;
}

GtkWidget* make_settings_frame(ApplyDialog* d) {
  GtkWidget* frame = gimp_frame_new("Settings");
  GtkWidget* table = form_table(8);
  gtk_container_add(GTK_CONTAINER(frame), table);
  GtkTable* t = GTK_TABLE(table);
  ApplySettings& v = d->v;

  GtkObject* adj = gimp_scale_entry_new(
      t, 0, 0, "_Steps:", 200, 6, v.steps, 1, 100, 1, 10, 0, FALSE, 1, 1000,
      "Denoising steps. More steps give a cleaner result and take proportionally longer; "
      "20–50 is usual.",
      nullptr);
  g_signal_connect(adj, "value-changed", G_CALLBACK(gimp_int_adjustment_update), &v.steps);

  adj = gimp_scale_entry_new(
      t, 0, 1, "_Edit guidance:", 200, 6, v.guidance, 0, 20, 0.1, 1, 1, FALSE, 0, kMaxGuidance,
      "How strongly the exemplar's edit is applied (classifier-free guidance on the edit "
      "embedding). Higher is stronger but may exaggerate; 7 is the authors' default.",
      nullptr);
  g_signal_connect(adj, "value-changed", G_CALLBACK(gimp_double_adjustment_update), &v.guidance);

  adj = gimp_scale_entry_new(
      t, 0, 2, "_Image guidance:", 200, 6, v.image_guidance, 0, 5, 0.05, 0.5, 2, FALSE, 0,
      kMaxImageGuidance,
      "How closely the result keeps the query's content and layout. Higher stays nearer the "
      "original; 1.5 is the authors' default.",
      nullptr);
  g_signal_connect(adj, "value-changed", G_CALLBACK(gimp_double_adjustment_update),
                   &v.image_guidance);

  // Writes straight into the working copy.
  GtkWidget* seed = seed_widget(&v.seed, &v.random_seed);
  attach_row(t, 3, "S_eed:", seed);
  set_tip(GTK_WIDGET(GIMP_RANDOM_SEED_SPINBUTTON(seed)),
          "The same seed with the same settings gives the same image. The seed used is put in "
          "the new layer's name.");
  set_tip(GTK_WIDGET(GIMP_RANDOM_SEED_TOGGLE(seed)), "Draw a new seed on every run.");

  GtkWidget* size_box = gtk_hbox_new(FALSE, 6);
  GtkObject* size_adj = gtk_adjustment_new(v.size, 32, 2048, 8, 64, 0);
  d->size_spin = gtk_spin_button_new(GTK_ADJUSTMENT(size_adj), 1, 0);
  gtk_spin_button_set_numeric(GTK_SPIN_BUTTON(d->size_spin), TRUE);
  gtk_box_pack_start(GTK_BOX(size_box), d->size_spin, FALSE, FALSE, 0);
  gtk_box_pack_start(GTK_BOX(size_box), gtk_label_new("px"), FALSE, FALSE, 0);
  d->size_note = gtk_label_new("");
  gimp_label_set_attributes(GTK_LABEL(d->size_note), PANGO_ATTR_SCALE, PANGO_SCALE_SMALL, -1);
  gtk_box_pack_start(GTK_BOX(size_box), d->size_note, FALSE, FALSE, 0);
  attach_row(t, 4, "Processing si_ze:", size_box);
  set_tip(d->size_spin,
          "The model runs on the query scaled to about this many pixels squared, keeping its "
          "aspect ratio, with sides rounded to multiples of 8. The model was trained at 256; "
          "larger sizes are slower (time grows with the pixel count) and may repeat patterns. "
          "The result is brought back to the layer's full size afterwards.");
  g_signal_connect(d->size_spin, "value-changed", G_CALLBACK(on_size_changed), d);
  update_size_note(d);

  GtkWidget* device =
      gimp_int_combo_box_new("Auto (settings)", int(DeviceChoice::Auto), "CPU",
                             int(DeviceChoice::Cpu), "GPU (CUDA)", int(DeviceChoice::Gpu), nullptr);
  gimp_int_combo_box_connect(GIMP_INT_COMBO_BOX(device), int(v.device),
                             G_CALLBACK(gimp_int_combo_box_get_active), &v.device);
  attach_row(t, 5, "_Device:", device);
  set_tip(device,
          "Where the model runs. Auto uses the device chosen in Filters > EditCLIP > Settings "
          "(by default a CUDA GPU when the engine has one, else the CPU). GPU fails with a "
          "message when none is available.");

  GtkWidget* output =
      gimp_int_combo_box_new("Full resolution (guided)", int(OutputMode::GuidedFullResolution),
                             "Plain resize", int(OutputMode::PlainResize), nullptr);
  gimp_int_combo_box_connect(GIMP_INT_COMBO_BOX(output), int(v.output_mode),
                             G_CALLBACK(gimp_int_combo_box_get_active), &v.output_mode);
  attach_row(t, 6, "_Output:", output);
  set_tip(output,
          "Full resolution: the change the model made at the processing size is transferred onto "
          "the full-size layer, so detail the model never saw survives. Plain resize: the "
          "low-resolution result is just scaled up (for comparison).");

  GtkWidget* outside =
      gimp_int_combo_box_new("Transparent", int(OutsideSelection::Transparent),
                             "Copy of the original", int(OutsideSelection::CopyOriginal), nullptr);
  gimp_int_combo_box_connect(GIMP_INT_COMBO_BOX(outside), int(v.outside),
                             G_CALLBACK(gimp_int_combo_box_get_active), &v.outside);
  attach_row(t, 7, "Outside se_lection:", outside);
  const bool has_selection = any_selection(d);
  gtk_widget_set_sensitive(outside, has_selection);
  set_tip(outside,
          has_selection
              ? "The edit is blended in only inside the selection, feathered by its own mask. "
                "Outside it the new layer is transparent, or an exact copy of the query."
              : "Only used when there is a selection: then the edit is blended in only inside "
                "it, and outside it the new layer is transparent or a copy of the query.");
  return frame;
}

// ---- warning about models -----------------------------------------------------------------------

void refresh_models_warning(ApplyDialog* d) {
  if (!d->warning_box) return;
  std::string text;
  if (d->hooks && d->hooks->missing_models) {
    try {
      text = d->hooks->missing_models();
    } catch (const std::exception& e) {
      text = e.what();
    }
  }
  if (text.empty()) {
    gtk_widget_hide(d->warning_box);
    return;
  }
  set_tip(d->warning_label, text.c_str());
  gtk_widget_show(d->warning_box);
}

void on_model_settings(GtkButton*, gpointer data) {
  auto* d = static_cast<ApplyDialog*>(data);
  if (d->hooks && d->hooks->open_model_settings) d->hooks->open_model_settings();
  refresh_models_warning(d);
}

GtkWidget* make_models_warning(ApplyDialog* d) {
  d->warning_box = gtk_hbox_new(FALSE, 6);
  GtkWidget* icon = gtk_image_new_from_icon_name(GIMP_ICON_DIALOG_WARNING, GTK_ICON_SIZE_BUTTON);
  gtk_box_pack_start(GTK_BOX(d->warning_box), icon, FALSE, FALSE, 0);
  d->warning_label = left_label(
      "The EditCLIP models are not set up yet. OK explains what to download; hover here for "
      "details.",
      true);
  gtk_box_pack_start(GTK_BOX(d->warning_box), d->warning_label, TRUE, TRUE, 0);
  if (d->hooks && d->hooks->open_model_settings) {
    GtkWidget* button = gtk_button_new_with_mnemonic("_Model Settings…");
    set_tip(button, "Choose the folders that hold the EditCLIP and editor weights.");
    g_signal_connect(button, "clicked", G_CALLBACK(on_model_settings), d);
    gtk_box_pack_start(GTK_BOX(d->warning_box), button, FALSE, FALSE, 0);
  }
  gtk_widget_show_all(d->warning_box);
  gtk_widget_set_no_show_all(d->warning_box, TRUE);
  return d->warning_box;
}

// ---- OK -----------------------------------------------------------------------------------------

std::string collect(ApplyDialog* d) {
  ApplySettings& v = d->v;
  v.seed = std::min(v.seed, kMaxSeed);  // the spin button's range; a no-op safety net
  const int page = gtk_notebook_get_current_page(GTK_NOTEBOOK(d->notebook));
  v.source = static_cast<EditSource>(page);
  v.size = std::max(8, static_cast<int>(std::lround(
                           gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(d->size_spin)) / 8.0)) *
                           8);
  // Kept for next time even when a preset is used.
  v.before_layer = combo_layer(d->before_combo);
  v.after_layer = combo_layer(d->after_combo);
  if (v.source == EditSource::Layers) {
    if (!is_usable_layer(v.before_layer)) return "Choose the Before layer of the exemplar.";
    if (!is_usable_layer(v.after_layer)) return "Choose the After layer of the exemplar.";
    if (v.before_layer == v.after_layer) return kSameExemplarLayerMessage;
    return "";
  }
  // Presets: the chosen paths, in list order.
  std::vector<std::string> chosen;
  GtkTreeModel* model = GTK_TREE_MODEL(d->presets);
  GtkTreeIter iter;
  for (gboolean ok = gtk_tree_model_get_iter_first(model, &iter); ok;
       ok = gtk_tree_model_iter_next(model, &iter)) {
    gboolean on = FALSE;
    gtk_tree_model_get(model, &iter, v.source == EditSource::Preset ? COL_SINGLE : COL_MULTI, &on,
                       -1);
    if (on) chosen.push_back(row_path(model, &iter));
  }
  if (chosen.empty())
    return v.source == EditSource::Preset ? "Pick a saved preset, or use the Exemplar Layers tab."
                                          : "Check at least one preset to average.";
  if (chosen.size() > size_t(kMaxPresetPaths))
    return "At most " + std::to_string(kMaxPresetPaths) + " presets can be averaged.";
  ApplySettings copy = v;
  copy.preset_count = 0;
  for (const auto& p : chosen) {
    if (!copy_to_buffer(p, copy.preset_paths[copy.preset_count], kPathCapacity))
      return "The preset path is too long: " + p;
    ++copy.preset_count;
  }
  for (int i = copy.preset_count; i < kMaxPresetPaths; ++i)
    std::fill(std::begin(copy.preset_paths[i]), std::end(copy.preset_paths[i]), '\0');
  v = copy;
  return "";
}

}  // namespace

bool run_apply_dialog(int32_t image, int32_t drawable, ApplySettings* settings, bool batch,
                      const ApplyDialogHooks& hooks) {
  if (!settings || !init_ui()) return false;
  ApplyDialog d;
  d.v = *settings;
  d.hooks = &hooks;
  d.image = image;
  d.drawable = drawable;
  d.batch = batch;
  if (is_usable_layer(drawable)) {
    d.region_w = gimp_drawable_width(drawable);
    d.region_h = gimp_drawable_height(drawable);
    d.has_selection = image > 0 && !gimp_selection_is_empty(image);
    if (d.has_selection) {
      gint x = 0, y = 0, w = 0, h = 0;
      d.region_ok = gimp_drawable_mask_intersect(drawable, &x, &y, &w, &h) && w > 0 && h > 0;
      d.region_w = w;
      d.region_h = h;
    }
  }

  d.dialog =
      new_dialog(batch ? "EditCLIP: Apply to All Open Images" : "EditCLIP: Apply Exemplar Edit",
                 "editclip-apply", batch ? "plug-in-editclip-apply-all" : "plug-in-editclip-apply");
  GtkWidget* main_vbox = content_vbox(d.dialog);

  const std::string hint =
      batch ? "The edit is computed once and applied to the active layer of every open image. "
              "Each result is a new layer above its query; an image that fails is skipped and "
              "listed at the end."
            : "Applies the edit shown by an exemplar pair (before → after) to the active layer. "
              "The result is a new layer above it; your layers are not changed.";
  gtk_box_pack_start(GTK_BOX(main_vbox), gimp_hint_box_new(hint.c_str()), FALSE, FALSE, 0);
  gtk_box_pack_start(GTK_BOX(main_vbox), make_models_warning(&d), FALSE, FALSE, 0);

  GtkWidget* top = gtk_hbox_new(FALSE, 12);
  gtk_box_pack_start(GTK_BOX(main_vbox), top, FALSE, FALSE, 0);
  gtk_box_pack_start(GTK_BOX(top), make_query_frame(&d), FALSE, FALSE, 0);

  GtkWidget* edit_frame = gimp_frame_new("Edit");
  gtk_box_pack_start(GTK_BOX(top), edit_frame, TRUE, TRUE, 0);
  d.notebook = gtk_notebook_new();
  gtk_container_add(GTK_CONTAINER(edit_frame), d.notebook);
  fill_preset_store(&d);
  gtk_notebook_append_page(GTK_NOTEBOOK(d.notebook), make_layers_page(&d),
                           gtk_label_new_with_mnemonic("E_xemplar layers"));
  gtk_notebook_append_page(GTK_NOTEBOOK(d.notebook), make_preset_page(&d, &d.single, false),
                           gtk_label_new_with_mnemonic("Saved _preset"));
  gtk_notebook_append_page(GTK_NOTEBOOK(d.notebook), make_preset_page(&d, &d.multi, true),
                           gtk_label_new_with_mnemonic("Average of p_resets"));
  set_tip(d.notebook,
          "Where the edit comes from: an exemplar pair of layers, a preset saved earlier, or the "
          "average of several presets. The tab shown on OK is used.");

  gtk_box_pack_start(GTK_BOX(main_vbox), make_settings_frame(&d), FALSE, FALSE, 0);

  d.error_label = add_error_label(main_vbox);
  gtk_widget_show_all(main_vbox);
  refresh_models_warning(&d);
  // Show the tab after the pages are visible (GtkNotebook ignores hidden pages).
  gtk_notebook_set_current_page(GTK_NOTEBOOK(d.notebook),
                                std::clamp(static_cast<int>(d.v.source), 0, 2));

  const bool ok = run_dialog(d.dialog, batch ? "apply-all" : "apply", d.error_label,
                             [&] { return collect(&d); });
  if (ok) *settings = d.v;
  gtk_widget_destroy(d.dialog);
  g_object_unref(d.presets);
  return ok;
}

}  // namespace editclip::gimp
