// Score Edit…: EC2T (pair vs. instruction text) or EC2EC (pair vs. reference pair).
#include <cstring>
#include <string>

#include "ui/dialog_util.h"
#include "ui/dialogs.h"

namespace editclip::gimp {

using namespace detail;

namespace {

constexpr int kThumb = 48;

struct PairRow {
  GtkWidget* combo = nullptr;
  GtkWidget* thumb = nullptr;
};

struct ScoreDialog {
  ScoreSettings v;
  GtkWidget* dialog = nullptr;
  PairRow before, after, ref_before, ref_after;
  GtkWidget* instruction_radio = nullptr;
  GtkWidget* instruction_entry = nullptr;
  GtkWidget* reference_box = nullptr;
  GtkWidget* error_label = nullptr;
};

void on_combo_changed(GtkWidget* combo, gpointer thumb) {
  set_thumbnail(GTK_WIDGET(thumb), combo_layer(combo), kThumb);
}

void add_layer_row(GtkTable* table, int row, const char* label, const char* tip, int32_t active,
                   PairRow* out) {
  out->combo = attach_layer_row(table, row, label, tip, active, kThumb, &out->thumb);
  g_signal_connect(out->combo, "changed", G_CALLBACK(on_combo_changed), out->thumb);
}

void update_mode(ScoreDialog* d) {
  const bool text = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d->instruction_radio));
  gtk_widget_set_sensitive(d->instruction_entry, text);
  gtk_widget_set_sensitive(d->reference_box, !text);
  set_error_text(d->error_label, "");
}

void on_mode_toggled(GtkToggleButton*, gpointer data) {
  update_mode(static_cast<ScoreDialog*>(data));
}

std::string collect(ScoreDialog* d) {
  ScoreSettings& v = d->v;
  v.before_layer = combo_layer(d->before.combo);
  v.after_layer = combo_layer(d->after.combo);
  v.ref_before_layer = combo_layer(d->ref_before.combo);
  v.ref_after_layer = combo_layer(d->ref_after.combo);
  const bool text = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d->instruction_radio));
  v.mode = text ? ScoreMode::Instruction : ScoreMode::ReferencePair;
  if (!is_usable_layer(v.before_layer)) return "Choose the Before layer of the edit to score.";
  if (!is_usable_layer(v.after_layer)) return "Choose the After layer of the edit to score.";
  if (v.before_layer == v.after_layer) return "Before and After are the same layer.";
  const std::string instruction = gtk_entry_get_text(GTK_ENTRY(d->instruction_entry));
  if (!copy_to_buffer(instruction, v.instruction, sizeof v.instruction))
    return "The instruction is too long (at most " + std::to_string(sizeof v.instruction - 1) +
           " bytes).";
  if (text) {
    if (instruction.find_first_not_of(" \t") == std::string::npos)
      return "Type the instruction the edit should match, e.g. \"make it look like winter\".";
  } else {
    if (!is_usable_layer(v.ref_before_layer)) return "Choose the reference pair's Before layer.";
    if (!is_usable_layer(v.ref_after_layer)) return "Choose the reference pair's After layer.";
    if (v.ref_before_layer == v.ref_after_layer)
      return "The reference pair's Before and After are the same layer.";
  }
  return "";
}

}  // namespace

bool run_score_dialog(int32_t image, int32_t drawable, ScoreSettings* s) {
  if (!s || !init_ui()) return false;
  ScoreDialog d;
  d.v = *s;
  d.dialog = new_dialog("EditCLIP: Score Edit", "editclip-score", "plug-in-editclip-score");
  GtkWidget* vbox = content_vbox(d.dialog);
  gtk_box_pack_start(
      GTK_BOX(vbox),
      gimp_hint_box_new("Measures in EditCLIP's embedding space how well an edit (a before → "
                        "after pair of layers) matches an instruction text (EC2T) or another "
                        "edit (EC2EC). Scores are cosine similarities: higher means closer."),
      FALSE, FALSE, 0);

  // The edit being judged; the active layer is a good guess for After.
  const int32_t before = usable_or_named(d.v.before_layer, "before");
  int32_t after = usable_or_named(d.v.after_layer, "after");
  if (!is_usable_layer(after) && is_usable_layer(drawable)) after = drawable;

  GtkTable* table = add_form_frame(vbox, "Edit to score", 2);
  add_layer_row(table, 0, "_Before:", "The image before the edit (any open image).", before,
                &d.before);
  add_layer_row(table, 1, "_After:", "The image after the edit.", after, &d.after);

  GtkWidget* frame = gimp_frame_new("Compare with");
  gtk_box_pack_start(GTK_BOX(vbox), frame, FALSE, FALSE, 0);
  GtkWidget* cmp = gtk_vbox_new(FALSE, 4);
  gtk_container_add(GTK_CONTAINER(frame), cmp);

  d.instruction_radio = gtk_radio_button_new_with_mnemonic(nullptr, "An _instruction text (EC2T)");
  gtk_box_pack_start(GTK_BOX(cmp), d.instruction_radio, FALSE, FALSE, 0);
  d.instruction_entry = gtk_entry_new();
  gtk_entry_set_max_length(GTK_ENTRY(d.instruction_entry), kPathCapacity - 1);
  gtk_entry_set_text(GTK_ENTRY(d.instruction_entry),
                     std::string(d.v.instruction, strnlen(d.v.instruction, kPathCapacity)).c_str());
  gtk_entry_set_activates_default(GTK_ENTRY(d.instruction_entry), TRUE);
  gtk_widget_set_size_request(d.instruction_entry, 420, -1);
  GtkWidget* indent = gtk_alignment_new(0, 0, 1, 1);
  gtk_alignment_set_padding(GTK_ALIGNMENT(indent), 0, 4, 24, 0);
  gtk_container_add(GTK_CONTAINER(indent), d.instruction_entry);
  gtk_box_pack_start(GTK_BOX(cmp), indent, FALSE, FALSE, 0);
  set_tip(d.instruction_entry,
          "What the edit should do, e.g. \"turn it into a watercolour painting\". Compared with "
          "the edit's embedding through EditCLIP's text tower.");

  GtkWidget* ref_radio = gtk_radio_button_new_with_mnemonic_from_widget(
      GTK_RADIO_BUTTON(d.instruction_radio), "A _reference edit (EC2EC)");
  gtk_box_pack_start(GTK_BOX(cmp), ref_radio, FALSE, FALSE, 0);
  d.reference_box = gtk_alignment_new(0, 0, 1, 1);
  gtk_alignment_set_padding(GTK_ALIGNMENT(d.reference_box), 0, 0, 24, 0);
  GtkWidget* ref_table = form_table(2);
  gtk_container_add(GTK_CONTAINER(d.reference_box), ref_table);
  gtk_box_pack_start(GTK_BOX(cmp), d.reference_box, FALSE, FALSE, 0);
  add_layer_row(GTK_TABLE(ref_table), 0, "R_eference before:",
                "The reference edit's original image (e.g. the exemplar you applied).",
                d.v.ref_before_layer, &d.ref_before);
  add_layer_row(GTK_TABLE(ref_table), 1, "Re_ference after:", "The reference edit's edited image.",
                d.v.ref_after_layer, &d.ref_after);

  gtk_toggle_button_set_active(
      GTK_TOGGLE_BUTTON(d.v.mode == ScoreMode::Instruction ? d.instruction_radio : ref_radio),
      TRUE);
  g_signal_connect(d.instruction_radio, "toggled", G_CALLBACK(on_mode_toggled), &d);
  update_mode(&d);

  d.error_label = add_error_label(vbox);
  gtk_widget_show_all(vbox);
  (void)image;

  const bool ok = run_dialog(d.dialog, "score", d.error_label, [&] { return collect(&d); });
  if (ok) *s = d.v;
  gtk_widget_destroy(d.dialog);
  return ok;
}

}  // namespace editclip::gimp
