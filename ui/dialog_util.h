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
GtkWidget* hint_label(const std::string& text);                  // small, wrapped, greyed help text
void set_error_text(GtkWidget* label, const std::string& text);  // red; empty hides it

void set_tip(GtkWidget* widget, const char* tip);

// Transient for the dialog being run (a dialog opened from another one), else for GIMP's window.
void set_transient(GtkWidget* window);

// ---- running ------------------------------------------------------------------------------------

// Runs `dialog` (already shown or not) until Cancel, or until OK with `validate` returning "" (an
// error text otherwise is put in `error_label`, and the dialog stays open). Handles the test
// hooks. Returns true for an accepted OK. Destroys nothing.
bool run_dialog(GtkWidget* dialog, const std::string& id, GtkWidget* error_label,
                const std::function<std::string()>& validate);

// Copies a std::string into a fixed char buffer; false when it does not fit (with the NUL).
bool copy_to_buffer(const std::string& text, char* buffer, size_t capacity);

}  // namespace editclip::gimp::detail
