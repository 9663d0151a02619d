// Pieces shared by the dialogs in ui/: test hooks, layer pickers, thumbnails, the run loop.
// Internal to ui/.
#pragma once

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#include <cstdint>
#include <functional>
#include <string>

#include "engine/editclip.h"

namespace editclip::gimp::detail {

// ---- test hooks (see ui/dialogs.h) --------------------------------------------------------------

enum class AutoAnswer { None, Ok, Cancel };
// What EDITCLIP_DIALOG_AUTO says for the window `id`; bare values only apply when !is_progress.
AutoAnswer auto_answer(const std::string& id, bool is_progress = false);
int auto_delay_ms();
// Saves `window` to the EDITCLIP_DIALOG_SNAPSHOT file if that is set and not yet done for `id`.
// Returns true when a file was written.
bool snapshot_window(GtkWidget* window, const std::string& id);
// Arms both hooks on a dialog: a snapshot once it has been drawn, then the automatic answer.
void arm_dialog_hooks(GtkWidget* dialog, const std::string& id);

// ---- widgets ------------------------------------------------------------------------------------

// Layers of every open image ("image / layer"), layer groups left out. `active` is selected when
// it is in the list.
GtkWidget* layer_combo(int32_t active);
int32_t combo_layer(GtkWidget* combo);  // -1 when none is selected
bool is_usable_layer(int32_t id);       // a valid, non-group layer
std::string layer_label(int32_t id);    // "image / layer"
// First layer (any open image) whose name contains `word`, ignoring case; -1 when none.
int32_t find_layer_named(const char* word);

// Thumbnail of a drawable, at most `size` pixels on its longer side; nullptr for an invalid id.
GdkPixbuf* layer_thumbnail(int32_t id, int size);
GdkPixbuf* rgb_pixbuf(const RgbImage& image, int max_side);
// GtkImage showing a drawable's thumbnail (or an empty frame-sized placeholder).
void set_thumbnail(GtkWidget* image, int32_t id, int size);

GtkWidget* left_label(const std::string& text, bool wrap = false);
GtkWidget* hint_label(const std::string& text);  // small, wrapped, greyed help text
// Sets a label's Pango markup: `format` filled like printf, string arguments markup-escaped.
void set_markup(GtkWidget* label, const char* format, ...) G_GNUC_PRINTF(2, 3);
// Bold text in `colour` ("#rrggbb"); empty hides the label.
void set_coloured_text(GtkWidget* label, const std::string& text, const char* colour);
void set_error_text(GtkWidget* label, const std::string& text);  // red; empty hides it
// Text of a GtkEntry without leading and trailing blanks.
std::string entry_text(GtkWidget* entry);
// `id` when it is a usable layer, else find_layer_named(word): a first guess for a layer picker.
int32_t usable_or_named(int32_t id, const char* word);

void set_tip(GtkWidget* widget, const char* tip);

// Transient for the dialog being run (a dialog opened from another one), else for GIMP's window.
void set_transient(GtkWidget* window);

// GimpRandomSeed (spin button, New Seed, Randomize) writing `seed` / `random_seed`, limited to
// 0..kMaxSeed: the PDB's seed is an INT32 (-1 = random), and the widget alone allows and draws
// any 32-bit seed, so a seed shown in a result layer's name could not always be passed back.
GtkWidget* seed_widget(uint32_t* seed, int32_t* random_seed);

// ---- layout -------------------------------------------------------------------------------------

// A Cancel / `ok_label` GimpDialog answering GTK_RESPONSE_CANCEL / GTK_RESPONSE_OK, with the
// buttons in the platform's order and made transient (set_transient).
GtkWidget* new_dialog(const char* title, const char* role, const char* help_id,
                      const char* ok_label = GTK_STOCK_OK);
// The padded box that holds all of a dialog's content.
GtkWidget* content_vbox(GtkWidget* dialog);
// The form grid of these dialogs: labels in column 0, widgets in 1, thumbnails or buttons in 2.
GtkWidget* form_table(int rows);
// A titled GIMP frame packed at the end of `box`, holding a form_table.
GtkTable* add_form_frame(GtkWidget* box, const char* title, int rows);
// Column 0 of `row`: a label whose mnemonic activates `widget`.
void attach_label(GtkTable* table, int row, const char* label, GtkWidget* widget);
// A labelled row with `widget` at its natural size across columns 1-2; `tip` may be nullptr.
void attach_row(GtkTable* table, int row, const char* label, GtkWidget* widget,
                const char* tip = nullptr);
// A labelled layer_combo(active) and, in column 2, a framed thumbnail (`*thumb`) of the layer it
// shows. Returns the combo box; keeping the thumbnail current is the caller's.
GtkWidget* attach_layer_row(GtkTable* table, int row, const char* label, const char* tip,
                            int32_t active, int thumb_size, GtkWidget** thumb);
// The label run_dialog shows validation errors in: wrapped, packed at the end of `box`, hidden
// until set_error_text gives it a text (gtk_widget_show_all leaves it alone).
GtkWidget* add_error_label(GtkWidget* box);
// A framed scrolled window that scrolls vertically only, at least width x height.
GtkWidget* scrolled_window(int width, int height);

// ---- running ------------------------------------------------------------------------------------

// Runs `dialog` (already shown or not) until Cancel, or until OK with `validate` returning "" (an
// error text otherwise is put in `error_label`, and the dialog stays open). Handles the test
// hooks. Returns true for an accepted OK. Destroys nothing.
bool run_dialog(GtkWidget* dialog, const std::string& id, GtkWidget* error_label,
                const std::function<std::string()>& validate);

// Copies a std::string into a fixed char buffer; false when it does not fit (with the NUL).
bool copy_to_buffer(const std::string& text, char* buffer, size_t capacity);

}  // namespace editclip::gimp::detail
