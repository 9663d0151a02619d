// Model Settings: where the weights are, and how the engine runs.
#include <cstdlib>
#include <string>

#include "ui/dialog_util.h"
#include "ui/dialogs.h"

namespace editclip::gimp {

using namespace detail;

namespace {

struct SettingsDialog {
  ModelSettings v;
  GtkWidget* dialog = nullptr;
  GtkWidget* editclip_entry = nullptr;
  GtkWidget* editor_entry = nullptr;
  GtkWidget* baseline_entry = nullptr;
  GtkWidget* lpips_entry = nullptr;
  GtkWidget* device_combo = nullptr;
  GtkWidget* precision_combo = nullptr;
  GtkWidget* threads_spin = nullptr;
  GtkWidget* check_view = nullptr;  // scrolled text with the check's result
  GtkWidget* check_scroll = nullptr;
  GtkWidget* check_status = nullptr;
};

const char* const kDevices[] = {"auto", "cpu", "cuda"};
const char* const kPrecisions[] = {"fp32", "fp16", "bf16"};

int index_of(const char* const* values, int n, const std::string& v) {
  for (int i = 0; i < n; ++i)
    if (v == values[i]) return i;
  return 0;
}

struct BrowseTarget {
  GtkWidget* entry;
  const char* title;
};

void on_browse(GtkButton* button, gpointer data) {
  auto* target = static_cast<BrowseTarget*>(data);
  GtkWidget* top = gtk_widget_get_toplevel(GTK_WIDGET(button));
  GtkWidget* chooser = gtk_file_chooser_dialog_new(
      target->title, GTK_WINDOW(top), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, GTK_STOCK_CANCEL,
      GTK_RESPONSE_CANCEL, GTK_STOCK_OPEN, GTK_RESPONSE_ACCEPT, nullptr);
  gtk_dialog_set_alternative_button_order(GTK_DIALOG(chooser), GTK_RESPONSE_ACCEPT,
                                          GTK_RESPONSE_CANCEL, -1);
  const char* current = gtk_entry_get_text(GTK_ENTRY(target->entry));
  if (current && *current && g_file_test(current, G_FILE_TEST_IS_DIR))
    gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(chooser), current);
  if (gtk_dialog_run(GTK_DIALOG(chooser)) == GTK_RESPONSE_ACCEPT) {
    gchar* folder = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(chooser));
    if (folder) gtk_entry_set_text(GTK_ENTRY(target->entry), folder);
    g_free(folder);
  }
  gtk_widget_destroy(chooser);
}

GtkWidget* folder_row(GtkTable* table, int row, const char* label, const std::string& value,
                      const char* title, const char* tip, const char* env) {
  GtkWidget* entry = gtk_entry_new();
  gtk_entry_set_text(GTK_ENTRY(entry), value.c_str());
  gtk_widget_set_size_request(entry, 380, -1);
  attach_label(table, row, label, entry);
  gtk_table_attach(table, entry, 1, 2, row, row + 1, GtkAttachOptions(GTK_EXPAND | GTK_FILL),
                   GTK_SHRINK, 0, 0);
  GtkWidget* button = gtk_button_new_with_label("Browse…");
  gtk_table_attach(table, button, 2, 3, row, row + 1, GTK_FILL, GTK_SHRINK, 0, 0);
  // Lives as long as the button.
  auto* target = new BrowseTarget{entry, title};
  g_signal_connect_data(
      button, "clicked", G_CALLBACK(on_browse), target,
      [](gpointer p, GClosure*) { delete static_cast<BrowseTarget*>(p); }, GConnectFlags(0));
  std::string full_tip = tip;
  if (const char* set = g_getenv(env); set && *set)
    full_tip += std::string("\n\n") + env + " is set (" + set + ") and overrides this.";
  set_tip(entry, full_tip.c_str());
  set_tip(button, "Choose the folder.");
  return entry;
}

// The thread count's spin button shows 0 as "auto" (and reads "auto" or nothing back as 0).
gboolean threads_output(GtkSpinButton* spin, gpointer) {
  const int value = gtk_spin_button_get_value_as_int(spin);
  if (value != 0) return FALSE;  // the default digits
  if (std::string(gtk_entry_get_text(GTK_ENTRY(spin))) != "auto")
    gtk_entry_set_text(GTK_ENTRY(spin), "auto");
  return TRUE;
}

gint threads_input(GtkSpinButton* spin, gdouble* value, gpointer) {
  std::string text = gtk_entry_get_text(GTK_ENTRY(spin));
  text.erase(0, text.find_first_not_of(" \t"));
  text.erase(text.find_last_not_of(" \t") + 1);
  if (text.empty() || g_ascii_strcasecmp(text.c_str(), "auto") == 0) {
    *value = 0;
    return TRUE;
  }
  char* end = nullptr;
  const double v = g_ascii_strtod(text.c_str(), &end);
  if (end == text.c_str() || *end) return GTK_INPUT_ERROR;
  *value = v;
  return TRUE;
}

// The settings path as the user knows it: ~/... under the home folder.
std::string shown_path(const std::string& path) {
  const std::string home = g_get_home_dir() ? g_get_home_dir() : "";
  if (!home.empty() && path.size() > home.size() && path.compare(0, home.size(), home) == 0 &&
      path[home.size()] == '/')
    return "~" + path.substr(home.size());
  return path;
}

GtkWidget* string_combo(const char** labels, const char* const* values, int n,
                        const std::string& active) {
  // Values are the indices into `values`.
  GtkWidget* combo = gimp_int_combo_box_new_array(n, const_cast<const gchar**>(labels));
  gimp_int_combo_box_set_active(GIMP_INT_COMBO_BOX(combo), index_of(values, n, active));
  return combo;
}

ModelSettings collect(SettingsDialog* d) {
  ModelSettings v = d->v;
  v.editclip_dir = entry_text(d->editclip_entry);
  v.editor_dir = entry_text(d->editor_entry);
  v.clip_baseline_dir = entry_text(d->baseline_entry);
  v.lpips_dir = entry_text(d->lpips_entry);
  gint i = 0;
  gimp_int_combo_box_get_active(GIMP_INT_COMBO_BOX(d->device_combo), &i);
  v.device = kDevices[i];
  gimp_int_combo_box_get_active(GIMP_INT_COMBO_BOX(d->precision_combo), &i);
  v.precision = kPrecisions[i];
  gtk_spin_button_update(GTK_SPIN_BUTTON(d->threads_spin));  // text typed but not yet applied
  v.threads = gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(d->threads_spin));
  return v;
}

void on_check(GtkButton*, gpointer data) {
  auto* d = static_cast<SettingsDialog*>(data);
  std::string report;
  try {
    report = describe_missing_models(collect(d));
  } catch (const std::exception& e) {
    report = e.what();
  }
  const bool found = report.empty();
  set_coloured_text(d->check_status, found ? "Models found." : "Something is missing:",
                    found ? "#3fa33f" : "#d83c3c");
  GtkTextBuffer* buffer = gtk_text_view_get_buffer(GTK_TEXT_VIEW(d->check_view));
  gtk_text_buffer_set_text(buffer, report.c_str(), -1);
  if (found) {
    gtk_widget_hide(d->check_scroll);
  } else {
    gtk_widget_show(d->check_scroll);
  }
}

}  // namespace

bool run_settings_dialog(ModelSettings* s) {
  if (!s || !init_ui()) return false;
  SettingsDialog d;
  d.v = *s;
  d.dialog =
      new_dialog("EditCLIP: Model Settings", "editclip-settings", "plug-in-editclip-settings");
  GtkWidget* vbox = content_vbox(d.dialog);
  const std::string hint =
      "Where the EditCLIP weights are. Saved in " + shown_path(settings_path()) +
      ", which the editclip command-line tool reads too. The environment variables "
      "EDITCLIP_CLIP_DIR, EDITCLIP_EDITOR_DIR, EDITCLIP_DEVICE, … override it.";
  gtk_box_pack_start(GTK_BOX(vbox), gimp_hint_box_new(hint.c_str()), FALSE, FALSE, 0);

  GtkTable* t = add_form_frame(vbox, "Model folders", 4);
  d.editclip_entry = folder_row(
      t, 0, "_EditCLIP:", d.v.editclip_dir, "EditCLIP folder",
      "The QWW/EditCLIP download: a CLIPModel folder (config.json, *.safetensors, tokenizer "
      "files) whose vision tower takes 6 channels. Required.",
      "EDITCLIP_CLIP_DIR");
  d.editor_entry = folder_row(
      t, 1, "E_ditor:", d.v.editor_dir, "Editor pipeline folder",
      "The QWW/EditCLIP-IP2P download: unet/, vae/, scheduler/ and image_proj_model.pt (vae/ "
      "and scheduler/ come from timbrooks/instruct-pix2pix). Required.",
      "EDITCLIP_EDITOR_DIR");
  d.baseline_entry = folder_row(
      t, 2, "_Baseline CLIP:", d.v.clip_baseline_dir, "Baseline CLIP folder",
      "Optional: a plain CLIP (e.g. openai/clip-vit-large-patch14) for the CLIP score and "
      "directional metrics. Not needed for editing or for EC2T/EC2EC.",
      "EDITCLIP_CLIP_BASELINE_DIR");
  d.lpips_entry = folder_row(t, 3, "_LPIPS:", d.v.lpips_dir, "LPIPS weights folder",
                             "Optional: LPIPS weights for the perceptual distance metric.",
                             "EDITCLIP_LPIPS_DIR");
  GtkWidget* optional = hint_label("Baseline CLIP and LPIPS are optional; leave them empty.");
  gtk_table_attach(t, optional, 1, 3, 4, 5, GTK_FILL, GTK_FILL, 0, 0);

  t = add_form_frame(vbox, "Running", 3);
  const char* device_labels[] = {"Auto", "CPU", "GPU (CUDA)"};
  d.device_combo = string_combo(device_labels, kDevices, 3, d.v.device);
  attach_row(t, 0, "De_vice:", d.device_combo,
             "Default device: Auto picks a CUDA GPU when the engine has one, else the CPU. The "
             "Apply dialog can override it per run.");
  const char* precision_labels[] = {"32-bit float", "16-bit float (GPU)", "bfloat16"};
  d.precision_combo = string_combo(precision_labels, kPrecisions, 3, d.v.precision);
  attach_row(t, 1, "_Precision:", d.precision_combo,
             "How the weights are stored while running. 16-bit halves the memory and is faster "
             "on a GPU; results differ slightly from 32-bit.");
  GtkObject* adj = gtk_adjustment_new(d.v.threads, 0, 256, 1, 4, 0);
  d.threads_spin = gtk_spin_button_new(GTK_ADJUSTMENT(adj), 1, 0);
  // Not numeric: "auto" must be typeable; threads_input parses the rest.
  gtk_spin_button_set_numeric(GTK_SPIN_BUTTON(d.threads_spin), FALSE);
  gtk_entry_set_width_chars(GTK_ENTRY(d.threads_spin), 5);
  g_signal_connect(d.threads_spin, "output", G_CALLBACK(threads_output), nullptr);
  g_signal_connect(d.threads_spin, "input", G_CALLBACK(threads_input), nullptr);
  attach_row(t, 2, "CPU _threads:", d.threads_spin,
             "Threads for CPU work. auto (0) lets the engine use every core; a lower number "
             "keeps GIMP and other programs responsive while EditCLIP runs.");

  GtkWidget* check_box = gtk_hbox_new(FALSE, 8);
  gtk_box_pack_start(GTK_BOX(vbox), check_box, FALSE, FALSE, 0);
  GtkWidget* check = gtk_button_new_with_mnemonic("_Check");
  set_tip(check,
          "Checks that the folders above hold the model files. For a full check of every "
          "tensor, run: editclip inspect FOLDER");
  g_signal_connect(check, "clicked", G_CALLBACK(on_check), &d);
  gtk_box_pack_start(GTK_BOX(check_box), check, FALSE, FALSE, 0);
  d.check_status = left_label("");
  gtk_box_pack_start(GTK_BOX(check_box), d.check_status, TRUE, TRUE, 0);

  d.check_view = gtk_text_view_new();
  gtk_text_view_set_editable(GTK_TEXT_VIEW(d.check_view), FALSE);
  gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(d.check_view), GTK_WRAP_WORD);
  gtk_text_view_set_left_margin(GTK_TEXT_VIEW(d.check_view), 4);
  d.check_scroll = scrolled_window(-1, 170);
  gtk_container_add(GTK_CONTAINER(d.check_scroll), d.check_view);
  gtk_box_pack_start(GTK_BOX(vbox), d.check_scroll, TRUE, TRUE, 0);

  gtk_widget_show_all(vbox);
  gtk_widget_hide(d.check_scroll);
  gtk_widget_hide(d.check_status);
  // Cheap (file tests only): show the state right away instead of waiting for a click.
  on_check(nullptr, &d);
  // Without this the first entry takes the focus and shows its path selected.
  if (GtkWidget* ok = gtk_dialog_get_widget_for_response(GTK_DIALOG(d.dialog), GTK_RESPONSE_OK))
    gtk_widget_grab_focus(ok);

  const bool ok = run_dialog(d.dialog, "settings", nullptr, [&] {
    d.v = collect(&d);
    return std::string();
  });
  if (ok) *s = d.v;
  gtk_widget_destroy(d.dialog);
  return ok;
}

}  // namespace editclip::gimp
