// Save Edit Preset…: an exemplar pair and the name it is saved under.
#include <cstring>
#include <string>

#include "ui/dialog_util.h"
#include "ui/dialogs.h"

namespace editclip::gimp {

using namespace detail;

namespace {

constexpr int kThumb = 64;

struct SaveDialog {
  SavePresetSettings v;
  GtkWidget* dialog = nullptr;
  GtkWidget* before_combo = nullptr;
  GtkWidget* after_combo = nullptr;
  GtkWidget* before_thumb = nullptr;
  GtkWidget* after_thumb = nullptr;
  GtkWidget* name_entry = nullptr;
  GtkWidget* error_label = nullptr;
  bool name_edited = false;  // stop proposing names once the user typed one
  bool setting_name = false;
};

std::string layer_name(int32_t id) {
  if (!is_usable_layer(id)) return "";
  gchar* n = gimp_item_get_name(id);
  std::string out = n ? n : "";
  g_free(n);
  return out;
}

void propose_name(SaveDialog* d) {
  if (d->name_edited) return;
  const std::string before = layer_name(combo_layer(d->before_combo));
  const std::string after = layer_name(combo_layer(d->after_combo));
  std::string name = after.empty() ? before : before.empty() ? after : before + " → " + after;
  if (name.size() >= sizeof d->v.name) name.resize(sizeof d->v.name - 1);
  d->setting_name = true;
  gtk_entry_set_text(GTK_ENTRY(d->name_entry), name.c_str());
  d->setting_name = false;
}

void on_layer_changed(GtkWidget* combo, gpointer data) {
  auto* d = static_cast<SaveDialog*>(data);
  set_thumbnail(combo == d->before_combo ? d->before_thumb : d->after_thumb, combo_layer(combo),
                kThumb);
  propose_name(d);
  set_error_text(d->error_label, "");
}

void on_name_changed(GtkEditable*, gpointer data) {
  auto* d = static_cast<SaveDialog*>(data);
  if (!d->setting_name) d->name_edited = true;
  set_error_text(d->error_label, "");
}

std::string collect(SaveDialog* d) {
  SavePresetSettings& v = d->v;
  v.before_layer = combo_layer(d->before_combo);
  v.after_layer = combo_layer(d->after_combo);
  if (!is_usable_layer(v.before_layer)) return "Choose the Before layer of the exemplar.";
  if (!is_usable_layer(v.after_layer)) return "Choose the After layer of the exemplar.";
  if (v.before_layer == v.after_layer)
    return "Before and After are the same layer: there is no edit to save.";
  const std::string name = entry_text(d->name_entry);
  if (name.empty()) return "Give the preset a name.";
  if (!copy_to_buffer(name, v.name, sizeof v.name))
    return "The name is too long (at most " + std::to_string(sizeof v.name - 1) + " bytes).";
  return "";
}

}  // namespace

bool run_save_preset_dialog(int32_t image, int32_t drawable, SavePresetSettings* s) {
  if (!s || !init_ui()) return false;
  SaveDialog d;
  d.v = *s;
  d.dialog = new_dialog("EditCLIP: Save Edit Preset", "editclip-save-preset",
                        "plug-in-editclip-save-preset", GTK_STOCK_SAVE);
  GtkWidget* vbox = content_vbox(d.dialog);
  const std::string hint =
      "Saves the edit of an exemplar pair (its EditCLIP embedding plus small thumbnails) so the "
      "Apply dialog can reuse it from its Saved preset tab, without the layers. Presets are "
      "kept in " +
      preset_folder() + ".";
  gtk_box_pack_start(GTK_BOX(vbox), gimp_hint_box_new(hint.c_str()), FALSE, FALSE, 0);

  GtkTable* table = add_form_frame(vbox, "Exemplar", 3);
  d.before_combo =
      attach_layer_row(table, 0, "_Before:", "The exemplar's original image (any open image).",
                       usable_or_named(d.v.before_layer, "before"), kThumb, &d.before_thumb);
  d.after_combo = attach_layer_row(
      table, 1,
      "_After:", "The exemplar's edited image. The change from Before to After is what is saved.",
      usable_or_named(d.v.after_layer, "after"), kThumb, &d.after_thumb);

  d.name_entry = gtk_entry_new();
  gtk_entry_set_max_length(GTK_ENTRY(d.name_entry), sizeof d.v.name - 1);
  gtk_entry_set_activates_default(GTK_ENTRY(d.name_entry), TRUE);
  attach_label(table, 2, "_Name:", d.name_entry);
  gtk_table_attach(table, d.name_entry, 1, 3, 2, 3, GtkAttachOptions(GTK_EXPAND | GTK_FILL),
                   GTK_SHRINK, 0, 0);
  set_tip(d.name_entry,
          "Shown in the Apply dialog's preset list. A preset with the same name is replaced.");
  const std::string old_name(d.v.name, strnlen(d.v.name, sizeof d.v.name));
  if (!old_name.empty()) {
    gtk_entry_set_text(GTK_ENTRY(d.name_entry), old_name.c_str());
    d.name_edited = true;
  } else {
    propose_name(&d);
  }
  g_signal_connect(d.name_entry, "changed", G_CALLBACK(on_name_changed), &d);
  g_signal_connect(d.before_combo, "changed", G_CALLBACK(on_layer_changed), &d);
  g_signal_connect(d.after_combo, "changed", G_CALLBACK(on_layer_changed), &d);

  d.error_label = add_error_label(vbox);
  gtk_widget_show_all(vbox);
  (void)image;
  (void)drawable;

  const bool ok = run_dialog(d.dialog, "save-preset", d.error_label, [&] { return collect(&d); });
  if (ok) *s = d.v;
  gtk_widget_destroy(d.dialog);
  return ok;
}

}  // namespace editclip::gimp
