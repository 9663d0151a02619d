// One EditCLIP edit session in the plug-in process: check the inputs, load the engine module and
// the models, compute the edit embedding once, then edit one or more query layers. Nothing is
// written to any image until a query's result is complete (insert_result_layer).
#pragma once

#include <libgimp/gimp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/editclip.h"
#include "plugin/engine_backend.h"
#include "plugin/gimp_io.h"
#include "plugin/procedure_params.h"

namespace editclip::gimp {

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // fraction in [0,1]; returning false asks to cancel (honoured between denoising steps).
  virtual bool update(double fraction, const std::string& text) = 0;
};

// GIMP's own progress bar (status bar / batch). Its Cancel button kills the plug-in process,
// which is harmless: nothing is written before the end.
class GimpProgressSink : public ProgressSink {
 public:
  explicit GimpProgressSink(const std::string& title);
  ~GimpProgressSink() override;
  bool update(double fraction, const std::string& text) override;

 private:
  std::string last_text_;
};

// Timestamps relative to the procedure's start on stderr, when EDITCLIP_GIMP_TIMING is set
// (how the OK-to-first-step time is measured).
void timing_start();
void timing_mark(const char* event);

// Splits the `preset` parameter (G_SEARCHPATH_SEPARATOR-separated) and resolves bare names to
// gimp_directory()/editclip/presets/<name>.editclip. Throws CallingError for missing files.
std::vector<std::string> resolve_presets(const std::string& list);
std::string presets_dir();

// Model settings for a run: the settings file plus environment overrides, with the device
// choice applied. Throws Error(describe_missing_models(...)) when weights are not configured.
ModelSettings settings_for_run(DeviceChoice device, bool need_editor);

class EditRunner {
 public:
  EditRunner(const ApplySettings& settings, uint32_t seed, ProgressSink& progress);
  ~EditRunner();

  // Reads and checks the exemplar layers or preset files; no engine involved yet.
  void read_exemplars();
  // Loads the engine and models, computes the embedding. Progress: [0, share].
  void prepare(double share);
  // Edits the query (read with read_query); progress in [lo, hi], `label` prefixes the progress
  // text. Returns the new layer, written once at the end.
  gint32 apply(const QueryLayer& query, double lo, double hi, const std::string& label);

  std::string layer_name() const;
  uint32_t seed() const { return seed_; }
  bool cancelled() const { return cancelled_; }
  std::vector<std::string>& notes() { return notes_; }
  // Layer ids of the exemplar pair (skipped by apply-all); -1 for presets.
  bool is_exemplar(gint32 drawable) const;

 private:
  bool report(double fraction, const std::string& text);

  ApplySettings settings_;
  uint32_t seed_;
  ProgressSink& progress_;
  RgbImage before_, after_;
  std::string before_name_, after_name_;
  std::vector<std::string> preset_paths_;
  std::unique_ptr<EngineBackend> backend_;
  int embedding_ = -1;
  bool cancelled_ = false;
  std::vector<std::string> notes_;
};

}  // namespace editclip::gimp
