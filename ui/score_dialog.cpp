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
  out->combo = layer_combo(active);
  out->thumb = gtk_image_new();
  GtkWidget* l = left_label(label);
  gtk_label_set_mnemonic_widget(GTK_LABEL(l), out->combo);
  gtk_table_attach(table, l, 0, 1, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  gtk_table_attach(table, out->combo, 1, 2, row, row + 1, GtkAttachOptions(GTK_EXPAND | GTK_FILL),
                   GTK_SHRINK, 0, 0);
  GtkWidget* frame = gtk_frame_new(nullptr);
  gtk_frame_set_shadow_type(GTK_FRAME(frame), GTK_SHADOW_IN);
  gtk_container_add(GTK_CONTAINER(frame), out->thumb);
  gtk_table_attach(table, frame, 2, 3, row, row + 1, GTK_SHRINK, GTK_SHRINK, 0, 0);
  set_thumbnail(out->thumb, combo_layer(out->combo), kThumb);
  g_signal_connect(out->combo, "changed", G_CALLBACK(on_combo_changed), out->thumb);
  set_tip(out->combo, tip);
}

GtkWidget* pair_table() {
  GtkWidget* table = gtk_table_new(2, 3, FALSE);
  gtk_table_set_col_spacings(GTK_TABLE(table), 6);
  gtk_table_set_row_spacings(GTK_TABLE(table), 4);
  return table;
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
  d.dialog = gimp_dialog_new("EditCLIP: Score Edit", "editclip-score", nullptr, GtkDialogFlags(0),
                             gimp_standard_help_func, "plug-in-editclip-score", GTK_STOCK_CANCEL,
                             GTK_RESPONSE_CANCEL, GTK_STOCK_OK, GTK_RESPONSE_OK, nullptr);
  gtk_dialog_set_alternative_button_order(GTK_DIALOG(d.dialog), GTK_RESPONSE_OK,
                                          GTK_RESPONSE_CANCEL, -1);
  set_transient(d.dialog);

  GtkWidget* vbox = gtk_vbox_new(FALSE, 10);
  gtk_container_set_border_width(GTK_CONTAINER(vbox), 12);
  gtk_box_pack_start(GTK_BOX(gtk_dialog_get_content_area(GTK_DIALOG(d.dialog))), vbox, TRUE, TRUE,
                     0);
  gtk_box_pack_start(
      GTK_BOX(vbox),
      gimp_hint_box_new("Measures in EditCLIP's embedding space how well an edit (a before → "
                        "after pair of layers) matches an instruction text (EC2T) or another "
                        "edit (EC2EC). Scores are cosine similarities: higher means closer."),
      FALSE, FALSE, 0);

  // The edit being judged; the active layer is a good guess for After.
  int32_t before = d.v.before_layer, after = d.v.after_layer;
  if (!is_usable_layer(before)) before = find_layer_named("before");
  if (!is_usable_layer(after)) after = find_layer_named("after");
  if (!is_usable_layer(after) && is_usable_layer(drawable)) after = drawable;

  GtkWidget* frame = gimp_frame_new("Edit to score");
  gtk_box_pack_start(GTK_BOX(vbox), frame, FALSE, FALSE, 0);
  GtkWidget* table = pair_table();
  gtk_container_add(GTK_CONTAINER(frame), table);
  add_layer_row(GTK_TABLE(table), 0, "_Before:", "The image before the edit (any open image).",
                before, &d.before);
  add_layer_row(GTK_TABLE(table), 1, "_After:", "The image after the edit.", after, &d.after);

  frame = gimp_frame_new("Compare with");
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
  table = pair_table();
  gtk_container_add(GTK_CONTAINER(d.reference_box), table);
  gtk_box_pack_start(GTK_BOX(cmp), d.reference_box, FALSE, FALSE, 0);
  add_layer_row(GTK_TABLE(table), 0, "R_eference before:",
                "The reference edit's original image (e.g. the exemplar you applied).",
                d.v.ref_before_layer, &d.ref_before);
  add_layer_row(GTK_TABLE(table), 1, "Re_ference after:", "The reference edit's edited image.",
                d.v.ref_after_layer, &d.ref_after);

  gtk_toggle_button_set_active(
      GTK_TOGGLE_BUTTON(d.v.mode == ScoreMode::Instruction ? d.instruction_radio : ref_radio),
      TRUE);
  g_signal_connect(d.instruction_radio, "toggled", G_CALLBACK(on_mode_toggled), &d);
  update_mode(&d);

  d.error_label = gtk_label_new("");
  gtk_misc_set_alignment(GTK_MISC(d.error_label), 0.0, 0.5);
  gtk_label_set_line_wrap(GTK_LABEL(d.error_label), TRUE);
  gtk_box_pack_start(GTK_BOX(vbox), d.error_label, FALSE, FALSE, 0);
  gtk_widget_show_all(vbox);
  gtk_widget_hide(d.error_label);
  (void)image;

  const bool ok = run_dialog(d.dialog, "score", d.error_label, [&] { return collect(&d); });
  if (ok) *s = d.v;
  gtk_widget_destroy(d.dialog);
  return ok;
}

}  // namespace editclip::gimp
