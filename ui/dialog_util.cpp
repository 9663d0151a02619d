#include "ui/dialog_util.h"

#include <algorithm>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <vector>

#include "plugin/procedure_params.h"
#include "ui/dialogs.h"

namespace editclip::gimp {

bool init_ui(std::string* error) {
  static int state = 0;  // 0 untried, 1 ok, -1 no display
  if (state == 0) {
    // gimp_ui_init calls gtk_init, which exits the process without a display: probe first.
    if (!gtk_init_check(nullptr, nullptr)) {
      state = -1;
    } else {
      gimp_ui_init("editclip", FALSE);
      state = 1;
    }
  }
  if (state < 0 && error)
    *error = "the EditCLIP dialogs need a display; use RUN-NONINTERACTIVE in batch mode";
  return state > 0;
}

std::string preset_folder() {
  gchar* path = g_build_filename(gimp_directory(), "editclip", "presets", nullptr);
  std::string out = path;
  g_free(path);
  return out;
}

std::vector<std::string> list_preset_files() {
  std::vector<std::string> files;
  const std::string folder = preset_folder();
  GDir* dir = g_dir_open(folder.c_str(), 0, nullptr);
  if (!dir) return files;
  while (const gchar* name = g_dir_read_name(dir)) {
    if (!g_str_has_suffix(name, ".editclip")) continue;
    gchar* path = g_build_filename(folder.c_str(), name, nullptr);
    if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) files.emplace_back(path);
    g_free(path);
  }
  g_dir_close(dir);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace editclip::gimp

namespace editclip::gimp::detail {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

AutoAnswer parse_answer(const std::string& v) {
  if (v == "ok") return AutoAnswer::Ok;
  if (v == "cancel") return AutoAnswer::Cancel;
  return AutoAnswer::None;
}

// Ids (or "" for the single-file mode) already written by this process.
std::set<std::string>& snapshots_done() {
  static std::set<std::string> done;
  return done;
}

struct HookState {
  GtkWidget* dialog = nullptr;  // weak
  std::string id;
  AutoAnswer answer = AutoAnswer::None;
  bool exposed = false;
};

gboolean snapshot_timeout(gpointer data) {
  auto* st = static_cast<HookState*>(data);
  if (st->dialog) snapshot_window(st->dialog, st->id);
  return FALSE;
}

gboolean on_expose(GtkWidget*, GdkEvent*, gpointer data) {
  auto* st = static_cast<HookState*>(data);
  if (!st->exposed) {
    st->exposed = true;
    // Let the children (thumbnails, combo boxes) finish their first draw.
    g_timeout_add(400, snapshot_timeout, st);
  }
  return FALSE;
}

gboolean answer_timeout(gpointer data) {
  auto* st = static_cast<HookState*>(data);
  if (!st->dialog) return FALSE;
  snapshot_window(st->dialog, st->id);  // no-op when done or not asked for
  gtk_dialog_response(GTK_DIALOG(st->dialog),
                      st->answer == AutoAnswer::Ok ? GTK_RESPONSE_OK : GTK_RESPONSE_CANCEL);
  return FALSE;
}

void free_hook_state(gpointer data, GObject*) {
  auto* st = static_cast<HookState*>(data);
  st->dialog = nullptr;
  // Pending timeouts still hold the pointer; they check `dialog` and stop. Leaked on purpose
  // (a few bytes per dialog, test runs only).
}

}  // namespace

AutoAnswer auto_answer(const std::string& id, bool is_progress) {
  const char* env = g_getenv("EDITCLIP_DIALOG_AUTO");
  if (!env || !*env) return AutoAnswer::None;
  AutoAnswer bare = AutoAnswer::None, specific = AutoAnswer::None;
  std::stringstream ss(env);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      bare = parse_answer(item);
    } else if (trim(item.substr(0, eq)) == id) {
      specific = parse_answer(trim(item.substr(eq + 1)));
    }
  }
  if (specific != AutoAnswer::None) return specific;
  return is_progress ? AutoAnswer::None : bare;
}

int auto_delay_ms() {
  const char* env = g_getenv("EDITCLIP_DIALOG_AUTO_DELAY_MS");
  const int ms = env ? std::atoi(env) : 0;
  return ms > 0 ? ms : 1500;
}

bool snapshot_window(GtkWidget* window, const std::string& id) {
  const char* env = g_getenv("EDITCLIP_DIALOG_SNAPSHOT");
  if (!env || !*env || !window) return false;
  std::string path = env;
  const size_t pos = path.find("%s");
  const std::string key = pos == std::string::npos ? std::string() : id;
  if (pos != std::string::npos) path.replace(pos, 2, id);
  if (snapshots_done().count(key)) return false;

  GdkWindow* gdk_window = gtk_widget_get_window(window);
  if (!gdk_window || !gtk_widget_get_mapped(window)) return false;
  gdk_window_process_all_updates();
  gdk_flush();
  int w = 0, h = 0;
  gdk_drawable_get_size(GDK_DRAWABLE(gdk_window), &w, &h);
  GdkPixbuf* pixbuf =
      gdk_pixbuf_get_from_drawable(nullptr, GDK_DRAWABLE(gdk_window), nullptr, 0, 0, 0, 0, w, h);
  if (!pixbuf) {
    g_printerr("EditCLIP: could not capture the %s window\n", id.c_str());
    return false;
  }
  GError* error = nullptr;
  const bool ok = gdk_pixbuf_save(pixbuf, path.c_str(), "png", &error, nullptr);
  g_object_unref(pixbuf);
  if (!ok) {
    g_printerr("EditCLIP: could not write %s: %s\n", path.c_str(),
               error ? error->message : "unknown error");
    if (error) g_error_free(error);
    return false;
  }
  snapshots_done().insert(key);
  return true;
}

void arm_dialog_hooks(GtkWidget* dialog, const std::string& id) {
  const char* snap = g_getenv("EDITCLIP_DIALOG_SNAPSHOT");
  const AutoAnswer answer = auto_answer(id);
  if ((!snap || !*snap) && answer == AutoAnswer::None) return;
  auto* st = new HookState;
  st->dialog = dialog;
  st->id = id;
  st->answer = answer;
  g_object_weak_ref(G_OBJECT(dialog), free_hook_state, st);
  if (snap && *snap) g_signal_connect_after(dialog, "expose-event", G_CALLBACK(on_expose), st);
  if (answer != AutoAnswer::None) g_timeout_add(auto_delay_ms(), answer_timeout, st);
}

// ---- widgets ------------------------------------------------------------------------------------

bool is_usable_layer(int32_t id) {
  return id > 0 && gimp_item_is_valid(id) && gimp_item_is_layer(id) && !gimp_item_is_group(id);
}

namespace {

gboolean layer_constraint(gint32, gint32 item, gpointer) {
  // Groups have no pixels of their own to use as an exemplar or query.
  return !gimp_item_is_group(item);
}

std::string lower(const char* s) {
  gchar* f = g_utf8_strdown(s, -1);
  std::string out = f;
  g_free(f);
  return out;
}

// strict: the name starts with `word` ("before", "Before 2"); else it only contains it. Our own
// result layers ("EditCLIP: before → after …") never count.
int32_t find_in_layers(const gint32* layers, int n, const std::string& word, bool strict) {
  for (int i = 0; i < n; ++i) {
    if (gimp_item_is_group(layers[i])) {
      gint count = 0;
      gint* children = gimp_item_get_children(layers[i], &count);
      const int32_t found = find_in_layers(children, count, word, strict);
      g_free(children);
      if (found > 0) return found;
      continue;
    }
    gchar* raw = gimp_item_get_name(layers[i]);
    const std::string name = raw ? lower(raw) : std::string();
    g_free(raw);
    if (name.rfind("editclip:", 0) == 0) continue;
    const size_t pos = name.find(word);
    if (strict ? pos == 0 : pos != std::string::npos) return layers[i];
  }
  return -1;
}

}  // namespace

GtkWidget* layer_combo(int32_t active) {
  GtkWidget* combo = gimp_layer_combo_box_new(layer_constraint, nullptr);
  if (is_usable_layer(active)) gimp_int_combo_box_set_active(GIMP_INT_COMBO_BOX(combo), active);
  return combo;
}

int32_t combo_layer(GtkWidget* combo) {
  gint id = -1;
  if (!gimp_int_combo_box_get_active(GIMP_INT_COMBO_BOX(combo), &id)) return -1;
  return id;
}

std::string layer_label(int32_t id) {
  if (id <= 0 || !gimp_item_is_valid(id)) return "(none)";
  std::string out;
  gchar* image = gimp_image_get_name(gimp_item_get_image(id));
  gchar* layer = gimp_item_get_name(id);
  out = std::string(image ? image : "?") + " / " + (layer ? layer : "?");
  g_free(image);
  g_free(layer);
  return out;
}

int32_t find_layer_named(const char* word) {
  const std::string w = lower(word);
  gint n_images = 0;
  gint* images = gimp_image_list(&n_images);
  int32_t found = -1;
  for (bool strict : {true, false}) {
    for (int i = 0; i < n_images && found < 0; ++i) {
      gint n = 0;
      gint* layers = gimp_image_get_layers(images[i], &n);
      found = find_in_layers(layers, n, w, strict);
      g_free(layers);
    }
    if (found > 0) break;
  }
  g_free(images);
  return found;
}

GdkPixbuf* layer_thumbnail(int32_t id, int size) {
  if (id <= 0 || !gimp_item_is_valid(id) || !gimp_item_is_drawable(id)) return nullptr;
  // Never enlarge a small layer: a blurry thumbnail misleads about its content.
  const int longer = std::max(gimp_drawable_width(id), gimp_drawable_height(id));
  size = std::max(1, std::min(size, longer));
  return gimp_drawable_get_thumbnail(id, size, size, GIMP_PIXBUF_SMALL_CHECKS);
}

GdkPixbuf* rgb_pixbuf(const RgbImage& image, int max_side) {
  if (image.empty() || image.pixels.size() < size_t(image.width) * image.height * 3) return nullptr;
  GdkPixbuf* pb = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, image.width, image.height);
  const int stride = gdk_pixbuf_get_rowstride(pb);
  guchar* dst = gdk_pixbuf_get_pixels(pb);
  for (int y = 0; y < image.height; ++y)
    std::memcpy(dst + size_t(y) * stride, image.pixels.data() + size_t(y) * image.width * 3,
                size_t(image.width) * 3);
  const int longer = std::max(image.width, image.height);
  if (longer <= max_side) return pb;
  const int w = std::max(1, image.width * max_side / longer);
  const int h = std::max(1, image.height * max_side / longer);
  GdkPixbuf* scaled = gdk_pixbuf_scale_simple(pb, w, h, GDK_INTERP_BILINEAR);
  g_object_unref(pb);
  return scaled;
}

void set_thumbnail(GtkWidget* image, int32_t id, int size) {
  gtk_widget_set_size_request(image, size, size);
  GdkPixbuf* pb = layer_thumbnail(id, size);
  if (pb) {
    gtk_image_set_from_pixbuf(GTK_IMAGE(image), pb);
    g_object_unref(pb);
  } else {
    gtk_image_clear(GTK_IMAGE(image));
  }
}

GtkWidget* left_label(const std::string& text, bool wrap) {
  GtkWidget* label = gtk_label_new_with_mnemonic(text.c_str());
  gtk_misc_set_alignment(GTK_MISC(label), 0.0, 0.5);
  if (wrap) gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
  return label;
}

void set_markup(GtkWidget* label, const char* format, ...) {
  va_list args;
  va_start(args, format);
  gchar* markup = g_markup_vprintf_escaped(format, args);
  va_end(args);
  gtk_label_set_markup(GTK_LABEL(label), markup);
  g_free(markup);
}

GtkWidget* hint_label(const std::string& text) {
  GtkWidget* label = gtk_label_new(nullptr);
  set_markup(label, "<small>%s</small>", text.c_str());
  gtk_misc_set_alignment(GTK_MISC(label), 0.0, 0.5);
  gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
  return label;
}

void set_coloured_text(GtkWidget* label, const std::string& text, const char* colour) {
  if (!label) return;
  if (text.empty()) {
    gtk_widget_hide(label);
    return;
  }
  set_markup(label, "<span foreground=\"%s\"><b>%s</b></span>", colour, text.c_str());
  gtk_widget_show(label);
}

void set_error_text(GtkWidget* label, const std::string& text) {
  set_coloured_text(label, text, "#d83c3c");
}

std::string entry_text(GtkWidget* entry) {
  return trim(gtk_entry_get_text(GTK_ENTRY(entry)));
}

int32_t usable_or_named(int32_t id, const char* word) {
  return is_usable_layer(id) ? id : find_layer_named(word);
}

void set_tip(GtkWidget* widget, const char* tip) {
  gimp_help_set_help_data(widget, tip, nullptr);
}

// ---- layout -------------------------------------------------------------------------------------

GtkWidget* new_dialog(const char* title, const char* role, const char* help_id,
                      const char* ok_label) {
  GtkWidget* dialog =
      gimp_dialog_new(title, role, nullptr, GtkDialogFlags(0), gimp_standard_help_func, help_id,
                      GTK_STOCK_CANCEL, GTK_RESPONSE_CANCEL, ok_label, GTK_RESPONSE_OK, nullptr);
  gtk_dialog_set_alternative_button_order(GTK_DIALOG(dialog), GTK_RESPONSE_OK, GTK_RESPONSE_CANCEL,
                                          -1);
  set_transient(dialog);
  return dialog;
}

GtkWidget* content_vbox(GtkWidget* dialog) {
  GtkWidget* vbox = gtk_vbox_new(FALSE, 10);
  gtk_container_set_border_width(GTK_CONTAINER(vbox), 12);
  gtk_box_pack_start(GTK_BOX(gtk_dialog_get_content_area(GTK_DIALOG(dialog))), vbox, TRUE, TRUE, 0);
  return vbox;
}

GtkWidget* form_table(int rows) {
  GtkWidget* table = gtk_table_new(rows, 3, FALSE);
  gtk_table_set_col_spacings(GTK_TABLE(table), 6);
  gtk_table_set_row_spacings(GTK_TABLE(table), 4);
  return table;
}

GtkTable* add_form_frame(GtkWidget* box, const char* title, int rows) {
  GtkWidget* frame = gimp_frame_new(title);
  gtk_box_pack_start(GTK_BOX(box), frame, FALSE, FALSE, 0);
  GtkWidget* table = form_table(rows);
  gtk_container_add(GTK_CONTAINER(frame), table);
  return GTK_TABLE(table);
}

void attach_label(GtkTable* table, int row, const char* label, GtkWidget* widget) {
  GtkWidget* l = left_label(label);
  gtk_label_set_mnemonic_widget(GTK_LABEL(l), widget);
  gtk_table_attach(table, l, 0, 1, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
}

void attach_row(GtkTable* table, int row, const char* label, GtkWidget* widget, const char* tip) {
  attach_label(table, row, label, widget);
  GtkWidget* align = gtk_alignment_new(0.0, 0.5, 0.0, 0.0);
  gtk_container_add(GTK_CONTAINER(align), widget);
  gtk_table_attach(table, align, 1, 3, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  if (tip) set_tip(widget, tip);
}

GtkWidget* attach_layer_row(GtkTable* table, int row, const char* label, const char* tip,
                            int32_t active, int thumb_size, GtkWidget** thumb) {
  GtkWidget* combo = layer_combo(active);
  attach_label(table, row, label, combo);
  gtk_table_attach(table, combo, 1, 2, row, row + 1, GtkAttachOptions(GTK_EXPAND | GTK_FILL),
                   GTK_SHRINK, 0, 0);
  *thumb = gtk_image_new();
  GtkWidget* frame = gtk_frame_new(nullptr);
  gtk_frame_set_shadow_type(GTK_FRAME(frame), GTK_SHADOW_IN);
  gtk_container_add(GTK_CONTAINER(frame), *thumb);
  gtk_table_attach(table, frame, 2, 3, row, row + 1, GTK_SHRINK, GTK_SHRINK, 0, 0);
  set_thumbnail(*thumb, combo_layer(combo), thumb_size);
  set_tip(combo, tip);
  return combo;
}

GtkWidget* add_error_label(GtkWidget* box) {
  GtkWidget* label = gtk_label_new("");
  gtk_misc_set_alignment(GTK_MISC(label), 0.0, 0.5);
  gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
  gtk_widget_set_no_show_all(label, TRUE);
  gtk_box_pack_start(GTK_BOX(box), label, FALSE, FALSE, 0);
  return label;
}

GtkWidget* scrolled_window(int width, int height) {
  GtkWidget* scrolled = gtk_scrolled_window_new(nullptr, nullptr);
  gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                 GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_shadow_type(GTK_SCROLLED_WINDOW(scrolled), GTK_SHADOW_IN);
  gtk_widget_set_size_request(scrolled, width, height);
  return scrolled;
}

// ---- running ------------------------------------------------------------------------------------

namespace {
GtkWidget* g_running_dialog = nullptr;  // innermost dialog in run_dialog
}  // namespace

void set_transient(GtkWidget* window) {
  if (g_running_dialog && g_running_dialog != window)
    gtk_window_set_transient_for(GTK_WINDOW(window), GTK_WINDOW(g_running_dialog));
  else
    gimp_window_set_transient(GTK_WINDOW(window));
}

bool run_dialog(GtkWidget* dialog, const std::string& id, GtkWidget* error_label,
                const std::function<std::string()>& validate) {
  const AutoAnswer answer = auto_answer(id);
  arm_dialog_hooks(dialog, id);
  gtk_widget_show(dialog);
  GtkWidget* outer = g_running_dialog;
  g_running_dialog = dialog;
  bool accepted = false;
  for (;;) {
    const int response = gimp_dialog_run(GIMP_DIALOG(dialog));
    if (response != GTK_RESPONSE_OK) break;
    const std::string error = validate ? validate() : std::string();
    if (error.empty()) {
      accepted = true;
      break;
    }
    if (answer == AutoAnswer::Ok) {
      // Nobody can correct the input: stop instead of waiting forever.
      g_printerr("EditCLIP: %s dialog: %s\n", id.c_str(), error.c_str());
      break;
    }
    set_error_text(error_label, error);
  }
  g_running_dialog = outer;
  return accepted;
}

namespace {

void new_seed_in_range(GtkWidget* widget, gpointer spin) {
  if (GTK_IS_TOGGLE_BUTTON(widget) && !gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget)))
    return;
  gtk_spin_button_set_value(GTK_SPIN_BUTTON(spin), g_random_int() & kMaxSeed);
}

}  // namespace

GtkWidget* seed_widget(uint32_t* seed, int32_t* random_seed) {
  // guint32 / gboolean are the field types.
  GtkWidget* seed_box = gimp_random_seed_new(seed, reinterpret_cast<gboolean*>(random_seed));
  auto* spin = static_cast<GtkWidget*>(GIMP_RANDOM_SEED_SPINBUTTON(seed_box));
  GtkAdjustment* adj = gtk_spin_button_get_adjustment(GTK_SPIN_BUTTON(spin));
  gtk_adjustment_set_upper(adj, kMaxSeed);
  // A seed from older last values, or drawn by the widget for "Randomize", may be larger.
  if (*seed > kMaxSeed) gtk_spin_button_set_value(GTK_SPIN_BUTTON(spin), *seed & kMaxSeed);
  *seed = std::min(*seed, kMaxSeed);
  // Runs after the widget's own handlers (which draw a full 32-bit seed, clamped by the
  // adjustment) on "New Seed" and on ticking "Randomize".
  GList* children = gtk_container_get_children(GTK_CONTAINER(seed_box));
  for (GList* l = children; l; l = l->next) {
    GtkWidget* child = GTK_WIDGET(l->data);
    if (GTK_IS_BUTTON(child) && child != spin)
      g_signal_connect(child, GTK_IS_TOGGLE_BUTTON(child) ? "toggled" : "clicked",
                       G_CALLBACK(new_seed_in_range), spin);
  }
  g_list_free(children);
  return seed_box;
}

bool copy_to_buffer(const std::string& text, char* buffer, size_t capacity) {
  if (text.size() + 1 > capacity) return false;
  std::memset(buffer, 0, capacity);
  std::memcpy(buffer, text.data(), text.size());
  return true;
}

}  // namespace editclip::gimp::detail
