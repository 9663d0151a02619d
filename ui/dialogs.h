// GTK2 dialogs of the GIMP 2.10 plug-in (libgimpui). The PDB glue in plugin/ calls them for
// RUN_INTERACTIVE; they only read and write the plain parameter structs of
// plugin/procedure_params.h and never touch pixels or the engine, so a GIMP 3 front end can
// replace this folder without touching anything else.
//
// Every dialog starts from the values passed in (the caller fills them with defaults or the last
// values) and writes them back only on OK: Cancel leaves the struct untouched.
//
// Test hooks (so tests can drive the interactive path under Xvfb without xdotool):
//   EDITCLIP_DIALOG_SNAPSHOT=FILE.png  a window saves itself as PNG once it is drawn. "%s" in the
//                                      name is replaced by the window's id (apply, apply-all,
//                                      score, save-preset, settings, progress); without it only
//                                      the first window of the process writes FILE.png.
//   EDITCLIP_DIALOG_AUTO=ok|cancel     dialogs answer themselves ~1.5 s after they appear
//                                      (EDITCLIP_DIALOG_AUTO_DELAY_MS changes the delay). Per id:
//                                      "apply=ok,progress=cancel". A bare ok|cancel applies to the
//                                      dialogs, never to the progress window; "progress=cancel"
//                                      presses the progress window's Cancel at its first update().
//                                      An auto-OK that fails validation prints the reason on stderr
//                                      and the dialog returns false.
//   EDITCLIP_PROGRESS_CANCEL_AT=F      the progress window presses its Cancel once the overall
//                                      progress reaches the fraction F (e.g. 0.5: in the middle
//                                      of Apply to All).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/editclip.h"
#include "plugin/procedure_params.h"

namespace editclip::gimp {

// gtk_init_check + gimp_ui_init, once per process. False (with a reason) when there is no
// display, e.g. interactive mode under gimp-console: the caller then reports an execution error
// instead of letting gtk_init exit the process. The run_* functions call it themselves too.
bool init_ui(std::string* error = nullptr);

// ---- presets ------------------------------------------------------------------------------------

// gimp_directory()/editclip/presets (not created here).
std::string preset_folder();
// The *.editclip files in preset_folder(), sorted by file name.
std::vector<std::string> list_preset_files();

// What the apply dialog shows for a preset file. Reading a preset needs the engine library, which
// the plug-in loads lazily, so the dialog asks the caller for it.
struct PresetPreview {
  std::string name;                                       // empty: the file name is shown
  std::vector<std::pair<RgbImage, RgbImage>> thumbnails;  // (before, after) per exemplar pair
};
// May throw (std::exception): the dialog shows the message in place of the thumbnails.
using PresetPreviewLoader = std::function<PresetPreview(const std::string& path)>;

struct ApplyDialogHooks {
  // Empty: presets are listed by file name only, without thumbnails. Called when the user picks
  // a row; results are cached for the dialog's lifetime.
  PresetPreviewLoader load_preset_preview;
  // Empty or returning "": nothing shown. Otherwise the text (e.g. describe_missing_models) is
  // shown as a warning line at the top of the dialog, in full in its tooltip.
  std::function<std::string()> missing_models;
  // Non-empty: a "Model Settings…" button that calls it (e.g. run_settings_dialog + save), then
  // re-runs missing_models.
  std::function<void()> open_model_settings;
};

// ---- dialogs ------------------------------------------------------------------------------------

// Filters > EditCLIP > Apply Exemplar Edit… (batch = false) or Apply to All Open Images (batch =
// true: the query is the active layer of every open image). `drawable` is the query layer shown in
// the preview. Returns false on Cancel.
bool run_apply_dialog(int32_t image, int32_t drawable, ApplySettings* settings, bool batch,
                      const ApplyDialogHooks& hooks = {});

// Score Edit…: EC2T against an instruction text or EC2EC against a reference layer pair.
bool run_score_dialog(int32_t image, int32_t drawable, ScoreSettings* s);

// Save Edit Preset…: an exemplar pair and a name.
bool run_save_preset_dialog(int32_t image, int32_t drawable, SavePresetSettings* s);

// Model folders and run options. Shows editclip::settings_path() and a "Check" button that shows
// editclip::describe_missing_models. Does not write the file: on true the caller saves `s`
// (editclip::save_model_settings).
bool run_settings_dialog(ModelSettings* s);

// ---- progress -----------------------------------------------------------------------------------

// A small window with a progress bar, a status line, elapsed/remaining time and a Cancel button,
// for interactive runs. update() pumps pending GTK events, so Cancel (or closing the window) is
// noticed between two updates; the engine's progress callback returns !cancelled() after update().
// Closes when destroyed.
class ProgressWindow {
 public:
  // batch: the apply-all variant (its own window role, so window managers place it separately).
  explicit ProgressWindow(const std::string& title, bool batch = false);
  ~ProgressWindow();
  ProgressWindow(const ProgressWindow&) = delete;
  ProgressWindow& operator=(const ProgressWindow&) = delete;

  // fraction in [0,1] (above 1 is clamped; a negative value pulses the bar).
  void update(double fraction, const std::string& text);
  // A second line, e.g. "Image 2 of 5: holiday.jpg" in batch mode.
  void set_detail(const std::string& text);
  bool cancelled();  // also pumps events

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace editclip::gimp
