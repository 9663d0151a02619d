// GIMP 2.10 entry points of the EditCLIP plug-in: PDB registration, argument decoding and
// validation, run-mode handling, and the error boundary. The executable does not link LibTorch;
// the engine module is opened only when something is computed (plugin/engine_loader.h).
#include <libgimp/gimp.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/editclip.h"
#include "engine/pipelines/progress.h"
#include "plugin/edit_runner.h"
#include "plugin/engine_loader.h"
#include "plugin/gimp_io.h"
#include "plugin/procedure_params.h"
#include "ui/dialogs.h"

using namespace editclip;
using namespace editclip::gimp;

namespace {

constexpr const char* kApply = "plug-in-editclip-apply";
constexpr const char* kApplyAll = "plug-in-editclip-apply-all";
constexpr const char* kScore = "plug-in-editclip-score";
constexpr const char* kSavePreset = "plug-in-editclip-save-preset";
constexpr const char* kSettings = "plug-in-editclip-settings";
constexpr const char* kMenu = "<Image>/Filters/EditCLIP";

gchar* S(const char* s) {
  return const_cast<gchar*>(s);
}

// ---- registration ----------------------------------------------------------------------------

#define RUN_MODE_PARAM                                                                            \
  {                                                                                               \
    GIMP_PDB_INT32, S("run-mode"),                                                                \
        S("The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1), RUN-WITH-LAST-VALS (2) }") \
  }

const char* kApplyHelp =
    "Applies the edit shown by an exemplar pair (before-layer -> after-layer, from any open "
    "image) to the query layer 'drawable', with the EditCLIP image editor. The result is a NEW "
    "layer 'EditCLIP: <before> -> <after> (seed N)' directly above the query, of the same size "
    "and offsets, added in one undo group; existing layers are never modified. With a selection "
    "only its bounding box is processed and the edit is blended in through the (feathered) "
    "selection mask; outside it the new layer is transparent or a copy (outside-selection). The "
    "layer's alpha is kept. Gray images get a gray result layer; indexed images are refused "
    "(convert to RGB first). The new layer gets the query's opacity, mode and blend/composite "
    "settings. Parameters and defaults: steps 20 (1..1000), guidance 7.0 (0..100), "
    "image-guidance 1.5 (0..100), seed 0 (0..2147483647; -1 = random, the seed drawn is in the "
    "layer name), size 256 (32..2048, rounded to a "
    "multiple of 8; the query is scaled to about size x size pixels for the model), output-mode "
    "0 (0 = guided full resolution: the low-resolution change is applied to the full-resolution "
    "layer; 1 = plain resize of the model's output), outside-selection 0 (0 = transparent, 1 = "
    "copy of the layer), preset \"\" (used when before-layer and after-layer are -1: a preset "
    "file path or a name saved with plug-in-editclip-save-preset; several separated by ':' are "
    "averaged; giving layers AND a preset is refused), device 0 "
    "(0 = as in the settings, 1 = CPU, 2 = GPU). Model folders come from the settings file "
    "(Filters > EditCLIP > Settings...) or EDITCLIP_CLIP_DIR / EDITCLIP_EDITOR_DIR. Notes about "
    "conversions (resized exemplars, rounded size) are returned in 'notes' (and shown in a "
    "message when interactive).";

GimpParamDef kApplyParams[] = {
    RUN_MODE_PARAM,
    {GIMP_PDB_IMAGE, S("image"), S("Input image")},
    {GIMP_PDB_DRAWABLE, S("drawable"), S("Query layer to edit (the active layer)")},
    {GIMP_PDB_DRAWABLE, S("before-layer"),
     S("Exemplar 'before' layer (any open image); -1 to use 'preset'")},
    {GIMP_PDB_DRAWABLE, S("after-layer"),
     S("Exemplar 'after' layer (any open image); -1 to use 'preset'")},
    {GIMP_PDB_INT32, S("steps"), S("Denoising steps, 1..1000 (default 20)")},
    {GIMP_PDB_FLOAT, S("guidance"), S("Edit guidance scale, 0..100 (default 7.0)")},
    {GIMP_PDB_FLOAT, S("image-guidance"), S("Image guidance scale, 0..100 (default 1.5)")},
    {GIMP_PDB_INT32, S("seed"), S("Random seed 0..2147483647, -1 = random (default 0)")},
    {GIMP_PDB_INT32, S("size"), S("Processing size, 32..2048, multiple of 8 (default 256)")},
    {GIMP_PDB_INT32, S("output-mode"),
     S("Back to full resolution: 0 guided, 1 plain resize (default 0)")},
    {GIMP_PDB_INT32, S("outside-selection"),
     S("Outside the selection the new layer is: 0 transparent, 1 a copy (default 0)")},
    {GIMP_PDB_STRING, S("preset"),
     S("Preset path(s) or saved name(s), ':'-separated (several are averaged), used instead of "
       "layers: before-layer and after-layer must then be -1 (default \"\")")},
    {GIMP_PDB_INT32, S("device"), S("0 settings/auto, 1 CPU, 2 GPU (default 0)")},
};

GimpParamDef kApplyReturns[] = {
    {GIMP_PDB_LAYER, S("new-layer"), S("The result layer")},
    {GIMP_PDB_STRING, S("notes"), S("Conversions made (resized inputs, rounded size), or \"\"")},
};

// The summary comes first: on an error GIMP 2.10 puts the message string in the first return
// slot and fills the others with defaults, taking an array's length from the value before it. A
// string there would be read as the length of new-layers (crashing the caller, e.g. Script-Fu).
GimpParamDef kApplyAllReturns[] = {
    {GIMP_PDB_STRING, S("summary"), S("Which images were edited, skipped or failed, and why")},
    {GIMP_PDB_INT32, S("num-layers"), S("Number of result layers")},
    {GIMP_PDB_INT32ARRAY, S("new-layers"), S("The result layers, one per edited image")},
};

GimpParamDef kScoreParams[] = {
    RUN_MODE_PARAM,
    {GIMP_PDB_IMAGE, S("image"), S("Input image")},
    {GIMP_PDB_DRAWABLE, S("drawable"), S("Active drawable (unused)")},
    {GIMP_PDB_DRAWABLE, S("before-layer"), S("'before' layer of the edit to judge")},
    {GIMP_PDB_DRAWABLE, S("after-layer"), S("'after' layer of the edit to judge")},
    {GIMP_PDB_INT32, S("mode"),
     S("0 EC2T: against 'instruction'; 1 EC2EC: against the reference pair (default 0)")},
    {GIMP_PDB_STRING, S("instruction"), S("Edit instruction text for EC2T (default \"\")")},
    {GIMP_PDB_DRAWABLE, S("ref-before-layer"), S("Reference 'before' layer for EC2EC, or -1")},
    {GIMP_PDB_DRAWABLE, S("ref-after-layer"), S("Reference 'after' layer for EC2EC, or -1")},
};

GimpParamDef kScoreReturns[] = {
    {GIMP_PDB_FLOAT, S("score"), S("Cosine similarity in [-1, 1]")},
    {GIMP_PDB_STRING, S("metric"), S("\"EC2T\" or \"EC2EC\"")},
    {GIMP_PDB_STRING, S("message"), S("The result as shown to the user")},
};

GimpParamDef kSavePresetParams[] = {
    RUN_MODE_PARAM,
    {GIMP_PDB_IMAGE, S("image"), S("Input image")},
    {GIMP_PDB_DRAWABLE, S("drawable"), S("Active drawable (unused)")},
    {GIMP_PDB_DRAWABLE, S("before-layer"), S("Exemplar 'before' layer")},
    {GIMP_PDB_DRAWABLE, S("after-layer"), S("Exemplar 'after' layer")},
    {GIMP_PDB_STRING, S("name"), S("Preset name (file name without '/')")},
    {GIMP_PDB_INT32, S("size"), S("Exemplar size for the encoder, 32..2048 (default 256)")},
};

GimpParamDef kSavePresetReturns[] = {
    {GIMP_PDB_STRING, S("path"), S("The preset file written")},
};

GimpParamDef kSettingsParams[] = {
    RUN_MODE_PARAM,
    {GIMP_PDB_STRING, S("editclip-dir"), S("EditCLIP model folder (\"\" keeps the current one)")},
    {GIMP_PDB_STRING, S("editor-dir"), S("Editor pipeline folder (\"\" keeps the current one)")},
    {GIMP_PDB_STRING, S("device"), S("auto | cpu | cuda (\"\" keeps the current one)")},
};

GimpParamDef kSettingsReturns[] = {
    {GIMP_PDB_STRING, S("settings-path"), S("The settings file written")},
};

template <size_t N>
constexpr int count(const GimpParamDef (&)[N]) {
  return static_cast<int>(N);
}

void install(const char* name, const char* blurb, const char* help, const char* label,
             const char* types, GimpParamDef* params, int n_params, GimpParamDef* returns,
             int n_returns) {
  gimp_install_procedure(name, blurb, help, "EditCLIP C++ contributors",
                         "EditCLIP C++ contributors", "2026", label, types, GIMP_PLUGIN, n_params,
                         n_returns, params, returns);
  gimp_plugin_menu_register(name, kMenu);
}

void query() {
  install(kApply, "Apply the edit shown by a before/after layer pair to the active layer",
          kApplyHelp, "Apply _Exemplar Edit...", "RGB*, GRAY*", kApplyParams, count(kApplyParams),
          kApplyReturns, count(kApplyReturns));
  install(kApplyAll,
          "Apply an exemplar edit to the active layer of every open image (embedding computed "
          "once)",
          "Same parameters as plug-in-editclip-apply; 'image' and 'drawable' only give the "
          "context. The edit is applied to the active layer of every open image (images whose "
          "active layer is the before/after exemplar are skipped). A failing image does not stop "
          "the others; the summary lists them. Fails only when no image could be edited. "
          "Cancel (interactive runs) keeps the images already finished, leaves the one in "
          "progress and the rest unchanged, and says which in a message.",
          "Apply to _All Open Images...", "RGB*, GRAY*", kApplyParams, count(kApplyParams),
          kApplyAllReturns, count(kApplyAllReturns));
  install(kScore, "Score an edit with EditCLIP (EC2T or EC2EC)",
          "EC2T (mode 0): cosine similarity between the edit embedding of before-layer -> "
          "after-layer and the text embedding of 'instruction'. EC2EC (mode 1): cosine "
          "similarity between the edit embeddings of the pair and of the reference pair. Needs "
          "only the EditCLIP model.",
          "_Score Edit...", "*", kScoreParams, count(kScoreParams), kScoreReturns,
          count(kScoreReturns));
  install(kSavePreset, "Save an exemplar pair's edit as a preset",
          "Computes the edit embedding of before-layer -> after-layer and stores it with "
          "thumbnails of the pair in <GIMP profile>/editclip/presets/<name>.editclip, usable as "
          "'preset' by plug-in-editclip-apply. Defaults: size 256.",
          "Save Edit _Preset...", "*", kSavePresetParams, count(kSavePresetParams),
          kSavePresetReturns, count(kSavePresetReturns));
  install(kSettings, "Where the EditCLIP model weights are",
          "Shows (interactive) or sets (non-interactive; \"\" keeps a value) the model folders "
          "and device in the settings file shared with the editclip CLI "
          "($EDITCLIP_SETTINGS, else $XDG_CONFIG_HOME/editclip/settings.json, else "
          "~/.config/editclip/settings.json). Environment variables EDITCLIP_CLIP_DIR, "
          "EDITCLIP_EDITOR_DIR, EDITCLIP_DEVICE override the file.",
          "Se_ttings...", "", kSettingsParams, count(kSettingsParams), kSettingsReturns,
          count(kSettingsReturns));
}

// ---- return values -----------------------------------------------------------------------------

GimpParam g_values[4];
std::string g_strings[3];
std::vector<gint32> g_ids;

void set_status(GimpPDBStatusType status, gint* nreturn, GimpParam** out) {
  g_values[0].type = GIMP_PDB_STATUS;
  g_values[0].data.d_status = status;
  *nreturn = 1;
  *out = g_values;
}

void set_error(GimpPDBStatusType status, const std::string& message, gint* nreturn,
               GimpParam** out) {
  set_status(status, nreturn, out);
  g_strings[0] = message;
  g_values[1].type = GIMP_PDB_STRING;
  g_values[1].data.d_string = const_cast<gchar*>(g_strings[0].c_str());
  *nreturn = 2;
}

void set_string(int index, int slot, const std::string& value) {
  g_strings[slot] = value;
  g_values[index].type = GIMP_PDB_STRING;
  g_values[index].data.d_string = const_cast<gchar*>(g_strings[slot].c_str());
}

std::string join(const std::vector<std::string>& lines, const char* sep) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : sep) + l;
  return out;
}

// ---- argument decoding --------------------------------------------------------------------------

void require_params(gint nparams, int expected, const char* name) {
  if (nparams != expected)
    throw CallingError(concat(name, " takes ", expected, " arguments, got ", nparams));
}

template <typename T>
void get_data(const char* proc, T* value) {
  if (gimp_get_data_size(proc) == sizeof(T)) gimp_get_data(proc, value);
}

std::string check_size(int size, const char* what) {
  if (size < 32 || size > 2048) return concat(what, " ", size, " is outside 32..2048");
  return "";
}

void validate(const ApplySettings& s) {
  std::string e;
  if (s.steps < 1 || s.steps > 1000) e = concat("steps ", s.steps, " is outside 1..1000");
  if (!std::isfinite(s.guidance) || s.guidance < 0 || s.guidance > kMaxGuidance)
    e = concat("guidance ", s.guidance, " is outside 0..", kMaxGuidance);
  if (!std::isfinite(s.image_guidance) || s.image_guidance < 0 ||
      s.image_guidance > kMaxImageGuidance)
    e = concat("image-guidance ", s.image_guidance, " is outside 0..", kMaxImageGuidance);
  if (e.empty()) e = check_size(s.size, "size");
  if (static_cast<int>(s.output_mode) < 0 || static_cast<int>(s.output_mode) > 1)
    e = concat("output-mode ", static_cast<int>(s.output_mode), " must be 0 (guided) or 1 (plain)");
  if (static_cast<int>(s.outside) < 0 || static_cast<int>(s.outside) > 1)
    e = concat("outside-selection ", static_cast<int>(s.outside),
               " must be 0 (transparent) or 1 (copy)");
  if (static_cast<int>(s.device) < 0 || static_cast<int>(s.device) > 2)
    e = concat("device ", static_cast<int>(s.device), " must be 0 (auto), 1 (CPU) or 2 (GPU)");
  if (!s.random_seed && s.seed > kMaxSeed) e = concat("seed ", s.seed, " is outside 0..", kMaxSeed);
  if (s.source == EditSource::Layers && (s.before_layer <= 0 || s.after_layer <= 0))
    e = "give before-layer and after-layer, or -1 for both with a preset";
  if (s.source == EditSource::Layers && s.before_layer == s.after_layer && s.before_layer > 0)
    e = kSameExemplarLayerMessage;
  if (!e.empty()) throw CallingError(e);
}

ApplySettings decode_apply(gint nparams, const GimpParam* p, const char* name) {
  require_params(nparams, count(kApplyParams), name);
  ApplySettings s;
  s.before_layer = p[3].data.d_drawable;
  s.after_layer = p[4].data.d_drawable;
  s.steps = p[5].data.d_int32;
  s.guidance = p[6].data.d_float;
  s.image_guidance = p[7].data.d_float;
  const gint32 seed = p[8].data.d_int32;
  if (seed < -1) throw CallingError(concat("seed ", seed, " must be -1 (random) or >= 0"));
  s.random_seed = seed == -1;
  s.seed = seed < 0 ? 0u : static_cast<uint32_t>(seed);
  s.size = p[9].data.d_int32;
  s.output_mode = static_cast<OutputMode>(p[10].data.d_int32);
  s.outside = static_cast<OutsideSelection>(p[11].data.d_int32);
  const std::string preset = p[12].data.d_string ? p[12].data.d_string : "";
  s.device = static_cast<DeviceChoice>(p[13].data.d_int32);
  const bool no_layers = s.before_layer == -1 && s.after_layer == -1;
  if (!preset.empty() && !no_layers)
    throw CallingError(
        "give either before-layer/after-layer or a preset, not both (to use the preset, pass -1 "
        "for before-layer and after-layer; to use the layers, pass \"\" as preset)");
  if (no_layers) {
    if (preset.empty())
      throw CallingError(
          "before-layer and after-layer are -1 but no preset is given (name or path in "
          "'preset')");
    // Resolved (and checked to exist) here so a typo fails before anything loads.
    const auto paths = resolve_presets(preset);
    s.source = paths.size() == 1 ? EditSource::Preset : EditSource::Average;
    s.preset_count = static_cast<int32_t>(paths.size());
    for (size_t i = 0; i < paths.size(); ++i) {
      if (paths[i].size() >= static_cast<size_t>(kPathCapacity))
        throw CallingError(concat("preset path too long: ", paths[i]));
      g_strlcpy(s.preset_paths[i], paths[i].c_str(), kPathCapacity);
    }
  }
  return s;
}

uint32_t resolve_seed(const ApplySettings& s) {
  // The low 31 bits of a uniform 32-bit number: uniform over 0..kMaxSeed.
  return s.random_seed ? (g_random_int() & kMaxSeed) : s.seed;
}

// ---- progress for interactive runs
// -----------------------------------------------------------------

class WindowProgressSink : public ProgressSink {
 public:
  WindowProgressSink(const std::string& title, bool batch) : window_(title, batch) {}
  bool update(double fraction, const std::string& text) override {
    window_.update(fraction, text);
    return !window_.cancelled();
  }
  void detail(const std::string& text) { window_.set_detail(text); }

 private:
  ProgressWindow window_;
};

std::unique_ptr<ProgressSink> make_progress(GimpRunMode mode, const std::string& title,
                                            bool batch) {
  if (mode == GIMP_RUN_INTERACTIVE) return std::make_unique<WindowProgressSink>(title, batch);
  return std::make_unique<GimpProgressSink>(title);
}

void require_ui() {
  std::string why;
  if (!init_ui(&why))
    throw Error(concat("interactive mode needs a display (", why,
                       "); call the procedure with RUN-NONINTERACTIVE from scripts"));
}

ApplyDialogHooks apply_hooks() {
  ApplyDialogHooks hooks;
  hooks.load_preset_preview = [](const std::string& path) {
    std::string name;
    std::vector<std::pair<RgbImage, RgbImage>> thumbnails;
    create_engine_backend()->read_preset(path, &name, &thumbnails);
    return PresetPreview{name, thumbnails};
  };
  hooks.missing_models = []() -> std::string {
    try {
      return describe_missing_models(load_model_settings());
    } catch (const std::exception& e) {
      return first_line(e.what());
    }
  };
  hooks.open_model_settings = []() {
    ModelSettings s = read_model_settings_file(settings_path());
    if (run_settings_dialog(&s)) save_model_settings(s);
  };
  return hooks;
}

// ---- procedures
// --------------------------------------------------------------------------------------

// Each returns the number of return values written after the status.
int apply_with(EditRunner& runner, ProgressSink& progress, GimpRunMode mode, gint32 image,
               gint32 drawable, bool batch);

int run_apply(GimpRunMode mode, gint nparams, const GimpParam* p, bool batch) {
  const char* proc = batch ? kApplyAll : kApply;
  const gint32 image = p[1].data.d_image;
  const gint32 drawable = p[2].data.d_drawable;
  ApplySettings s;
  if (mode == GIMP_RUN_NONINTERACTIVE) {
    s = decode_apply(nparams, p, proc);
  } else {
    get_data(proc, &s);
    if (mode == GIMP_RUN_INTERACTIVE) {
      require_ui();
      // LibTorch loads while the user looks at the dialog, not after OK.
      preload_engine_module();
      if (!run_apply_dialog(image, drawable, &s, batch, apply_hooks())) throw Cancelled();
      timing_start();  // "OK" for the OK-to-first-step measurement
    }
  }
  validate(s);
  const uint32_t seed = resolve_seed(s);
  gimp_set_data(proc, &s, sizeof s);

  auto progress = make_progress(mode, batch ? "EditCLIP: all open images" : "EditCLIP", batch);
  EditRunner runner(s, seed, *progress);
  try {
    return apply_with(runner, *progress, mode, image, drawable, batch);
  } catch (const std::exception&) {
    // A cancelled engine call may surface as any exception type from the module.
    if (runner.cancelled()) throw Cancelled();
    throw;
  }
}

int apply_with(EditRunner& runner, ProgressSink& progress, GimpRunMode mode, gint32 image,
               gint32 drawable, bool batch) {
  runner.read_exemplars();
  if (!batch) {
    // The query is checked and read before gigabytes of weights are loaded.
    const QueryLayer query = read_query(image, drawable);
    runner.prepare(0.08);
    const gint32 layer = runner.apply(query, 0.08, 1.0, "EditCLIP: ");
    timing_mark("done");
    const std::string notes = join(runner.notes(), "; ");
    if (mode != GIMP_RUN_NONINTERACTIVE) {
      gimp_displays_flush();
      // A user does not read stderr: say once what was converted.
      if (!notes.empty())
        g_message("EditCLIP: the edit was applied, with notes:\n%s",
                  join(runner.notes(), "\n").c_str());
    } else {
      for (const auto& n : runner.notes()) g_printerr("EditCLIP: note: %s\n", n.c_str());
    }
    g_values[1].type = GIMP_PDB_LAYER;
    g_values[1].data.d_layer = layer;
    set_string(2, 1, notes);
    return 2;
  }

  gint n_images = 0;
  gint* ids = gimp_image_list(&n_images);
  std::vector<gint32> images(ids, ids + n_images);
  g_free(ids);
  g_ids.clear();
  std::vector<std::string> edited, failed, skipped;
  std::string in_progress;
  size_t next = 0;  // the first image not started
  // Cancel keeps what is finished: each edited image already has its result layer in its own
  // undo group. The one in progress gets nothing.
  auto report_cancel = [&]() {
    std::string text = "EditCLIP: Apply to All was cancelled. ";
    if (edited.empty()) {
      text += "No image was edited.";
    } else {
      text += concat("Edited ", edited.size(), " of ", images.size(), " open images (",
                     join(edited, ", "),
                     "); each keeps its new layer (Edit > Undo in that image removes it).");
    }
    if (!in_progress.empty())
      text += concat(" ", in_progress, " was being edited and is unchanged.");
    std::vector<std::string> not_started;
    for (size_t i = next; i < images.size(); ++i)
      not_started.push_back(concat("'", image_name(images[i]), "'"));
    if (!not_started.empty()) text += concat(" Not started: ", join(not_started, ", "), ".");
    if (!failed.empty()) text += concat(" Failed: ", join(failed, "; "), ".");
    if (!skipped.empty()) text += concat(" Skipped: ", join(skipped, "; "), ".");
    if (!edited.empty() && mode != GIMP_RUN_NONINTERACTIVE) gimp_displays_flush();
    if (mode == GIMP_RUN_NONINTERACTIVE)
      g_printerr("%s\n", text.c_str());
    else
      g_message("%s", text.c_str());
  };
  try {
    runner.prepare(0.05);
    for (size_t i = 0; i < images.size(); ++i) {
      const gint32 img = images[i];
      next = i + 1;
      const std::string name = concat("'", image_name(img), "'");
      const std::string label = concat("EditCLIP: image ", i + 1, "/", images.size(), ": ");
      const gint32 query = gimp_image_get_active_drawable(img);
      if (query <= 0) {
        skipped.push_back(name + " (no active layer)");
        continue;
      }
      if (runner.is_exemplar(query)) {
        skipped.push_back(name + " (its active layer is the exemplar)");
        continue;
      }
      if (auto* w = dynamic_cast<WindowProgressSink*>(&progress))
        w->detail(concat("Image ", i + 1, " of ", images.size(), ": ", image_name(img)));
      const double lo = 0.05 + 0.95 * i / images.size();
      const double hi = 0.05 + 0.95 * (i + 1) / images.size();
      in_progress = name;
      try {
        g_ids.push_back(runner.apply(read_query(img, query), lo, hi, label));
        edited.push_back(name);
      } catch (const Cancelled&) {
        throw;
      } catch (const std::exception& e) {
        if (runner.cancelled()) throw Cancelled();
        failed.push_back(concat(name, ": ", first_line(e.what())));
      }
      in_progress.clear();
    }
  } catch (const Cancelled&) {
    report_cancel();
    throw;
  } catch (const std::exception&) {
    // A cancelled engine call may surface as any exception type from the module.
    if (!runner.cancelled()) throw;
    report_cancel();
    throw Cancelled();
  }
  timing_mark("done");
  std::string summary =
      concat("EditCLIP: edited ", g_ids.size(), " of ", images.size(), " open images");
  if (!failed.empty()) summary += concat("; failed: ", join(failed, "; "));
  if (!skipped.empty()) summary += concat("; skipped: ", join(skipped, "; "));
  if (!runner.notes().empty()) summary += concat("; notes: ", join(runner.notes(), "; "));
  if (g_ids.empty()) throw Error(summary);
  if (mode != GIMP_RUN_NONINTERACTIVE) gimp_displays_flush();
  if (!failed.empty() || mode == GIMP_RUN_INTERACTIVE) g_message("%s", summary.c_str());
  set_string(1, 1, summary);
  g_values[2].type = GIMP_PDB_INT32;
  g_values[2].data.d_int32 = static_cast<gint32>(g_ids.size());
  g_values[3].type = GIMP_PDB_INT32ARRAY;
  g_values[3].data.d_int32array = g_ids.data();
  return 3;
}

int run_score(GimpRunMode mode, gint nparams, const GimpParam* p) {
  ScoreSettings s;
  if (mode == GIMP_RUN_NONINTERACTIVE) {
    require_params(nparams, count(kScoreParams), kScore);
    s.before_layer = p[3].data.d_drawable;
    s.after_layer = p[4].data.d_drawable;
    s.mode = static_cast<ScoreMode>(p[5].data.d_int32);
    g_strlcpy(s.instruction, p[6].data.d_string ? p[6].data.d_string : "", kPathCapacity);
    s.ref_before_layer = p[7].data.d_drawable;
    s.ref_after_layer = p[8].data.d_drawable;
  } else {
    get_data(kScore, &s);
    if (mode == GIMP_RUN_INTERACTIVE) {
      require_ui();
      if (!run_score_dialog(p[1].data.d_image, p[2].data.d_drawable, &s)) throw Cancelled();
    }
  }
  const bool ec2ec = s.mode == ScoreMode::ReferencePair;
  if (!ec2ec && s.mode != ScoreMode::Instruction)
    throw CallingError(concat("mode ", static_cast<int>(s.mode), " must be 0 (EC2T) or 1 (EC2EC)"));
  if (!ec2ec && std::string(s.instruction).empty())
    throw CallingError("EC2T needs an instruction text");
  gimp_set_data(kScore, &s, sizeof s);
  const RgbImage before = read_exemplar(s.before_layer, "before-layer");
  const RgbImage after = read_exemplar(s.after_layer, "after-layer");
  RgbImage ref_before, ref_after;
  if (ec2ec) {
    ref_before = read_exemplar(s.ref_before_layer, "ref-before-layer");
    ref_after = read_exemplar(s.ref_after_layer, "ref-after-layer");
  }
  const ModelSettings models = settings_for_run(DeviceChoice::Auto, false);
  GimpProgressSink progress("EditCLIP: scoring");
  auto backend = create_engine_backend();
  backend->load(models, models.device, true, false);
  progress.update(0.5, "EditCLIP: scoring");
  double score = 0;
  std::string message;
  const std::string pair =
      concat("'", item_name(s.before_layer), "' \u2192 '", item_name(s.after_layer), "'");
  if (ec2ec) {
    const int a = backend->embed(before, after, 256, {});
    const int b = backend->embed(ref_before, ref_after, 256, {});
    score = backend->ec2ec(a, b);
    message = concat("EC2EC of ", pair, " against '", item_name(s.ref_before_layer), "' \u2192 '",
                     item_name(s.ref_after_layer), "': ", score);
  } else {
    score = backend->ec2t(before, after, s.instruction);
    message = concat("EC2T of ", pair, " against \"", s.instruction, "\": ", score);
  }
  progress.update(1.0, "EditCLIP: scored");
  if (mode != GIMP_RUN_NONINTERACTIVE) g_message("%s", message.c_str());
  g_values[1].type = GIMP_PDB_FLOAT;
  g_values[1].data.d_float = score;
  set_string(2, 1, ec2ec ? "EC2EC" : "EC2T");
  set_string(3, 2, message);
  return 3;
}

int run_save_preset(GimpRunMode mode, gint nparams, const GimpParam* p) {
  SavePresetSettings s;
  if (mode == GIMP_RUN_NONINTERACTIVE) {
    require_params(nparams, count(kSavePresetParams), kSavePreset);
    s.before_layer = p[3].data.d_drawable;
    s.after_layer = p[4].data.d_drawable;
    const char* name = p[5].data.d_string ? p[5].data.d_string : "";
    if (strlen(name) >= sizeof s.name) throw CallingError("preset name is too long");
    g_strlcpy(s.name, name, sizeof s.name);
    s.size = p[6].data.d_int32;
  } else {
    get_data(kSavePreset, &s);
    if (mode == GIMP_RUN_INTERACTIVE) {
      require_ui();
      if (!run_save_preset_dialog(p[1].data.d_image, p[2].data.d_drawable, &s)) throw Cancelled();
    }
  }
  std::string name = g_strstrip(s.name);
  if (name.empty()) throw CallingError("give the preset a name");
  if (name.find('/') != std::string::npos ||
      name.find(G_SEARCHPATH_SEPARATOR) != std::string::npos || name == "." || name == "..")
    throw CallingError(concat("preset name '", name, "' must not contain '/' or ':'"));
  const std::string size_error = check_size(s.size, "size");
  if (!size_error.empty()) throw CallingError(size_error);
  gimp_set_data(kSavePreset, &s, sizeof s);
  const RgbImage before = read_exemplar(s.before_layer, "before-layer");
  const RgbImage after = read_exemplar(s.after_layer, "after-layer");
  const ModelSettings models = settings_for_run(DeviceChoice::Auto, false);
  GimpProgressSink progress("EditCLIP: saving preset");
  auto backend = create_engine_backend();
  backend->load(models, models.device, true, false);
  const int embedding = backend->embed(before, after, s.size, {});
  const std::string dir = presets_dir();
  if (g_mkdir_with_parents(dir.c_str(), 0755) != 0)
    throw Error(concat("cannot create ", dir, ": ", g_strerror(errno)));
  gchar* file = g_build_filename(dir.c_str(), (name + ".editclip").c_str(), nullptr);
  const std::string path = file;
  g_free(file);
  backend->save_preset(path, name, embedding, before, after);
  progress.update(1.0, "EditCLIP: preset saved");
  if (mode == GIMP_RUN_INTERACTIVE)
    g_message("EditCLIP: preset '%s' saved to %s", name.c_str(), path.c_str());
  set_string(1, 1, path);
  return 1;
}

int run_settings(GimpRunMode mode, gint nparams, const GimpParam* p) {
  // The file alone: environment overrides must not be written into it.
  ModelSettings s = read_model_settings_file(settings_path());
  if (mode == GIMP_RUN_NONINTERACTIVE) {
    require_params(nparams, count(kSettingsParams), kSettings);
    auto set = [](std::string& field, const gchar* value) {
      if (value && *value) field = value;
    };
    set(s.editclip_dir, p[1].data.d_string);
    set(s.editor_dir, p[2].data.d_string);
    set(s.device, p[3].data.d_string);
    if (s.device != "auto" && s.device != "cpu" && s.device != "cuda" &&
        s.device.rfind("cuda:", 0) != 0)
      throw CallingError(concat("device '", s.device, "' must be auto, cpu or cuda"));
  } else {
    require_ui();
    if (!run_settings_dialog(&s)) throw Cancelled();
  }
  save_model_settings(s);
  set_string(1, 1, settings_path());
  return 1;
}

void run(const gchar* name, gint nparams, const GimpParam* params, gint* nreturn_vals,
         GimpParam** return_vals) {
  timing_start();
  timing_mark("start");
  const std::string proc = name;
  try {
    if (nparams < 1) throw CallingError("missing run-mode");
    const auto mode = static_cast<GimpRunMode>(params[0].data.d_int32);
    gegl_init(nullptr, nullptr);
    int extra = 0;
    if (proc == kApply || proc == kApplyAll) {
      if (nparams < 3) throw CallingError(concat(proc, ": missing image and drawable"));
      extra = run_apply(mode, nparams, params, proc == kApplyAll);
    } else if (proc == kScore) {
      if (nparams < 3) throw CallingError(concat(proc, ": missing image and drawable"));
      extra = run_score(mode, nparams, params);
    } else if (proc == kSavePreset) {
      if (nparams < 3) throw CallingError(concat(proc, ": missing image and drawable"));
      extra = run_save_preset(mode, nparams, params);
    } else if (proc == kSettings) {
      extra = run_settings(mode, nparams, params);
    } else {
      throw CallingError(concat("unknown procedure ", proc));
    }
    set_status(GIMP_PDB_SUCCESS, nreturn_vals, return_vals);
    *nreturn_vals = 1 + extra;
  } catch (const Cancelled&) {
    set_status(GIMP_PDB_CANCEL, nreturn_vals, return_vals);
  } catch (const CallingError& e) {
    set_error(GIMP_PDB_CALLING_ERROR, e.what(), nreturn_vals, return_vals);
  } catch (const std::exception& e) {
    // c10 errors carry a backtrace after the first line; engine messages may be multi-line on
    // purpose (describe_missing_models), so only LibTorch's are cut.
    std::string msg = e.what();
    if (msg.find("Exception raised from") != std::string::npos) msg = first_line(msg);
    set_error(GIMP_PDB_EXECUTION_ERROR, msg, nreturn_vals, return_vals);
  } catch (...) {
    set_error(GIMP_PDB_EXECUTION_ERROR, "EditCLIP: unexpected internal error", nreturn_vals,
              return_vals);
  }
  // A preload still running (dialog cancelled quickly) must end before the process exits.
  wait_for_engine_preload();
}

}  // namespace

const GimpPlugInInfo PLUG_IN_INFO = {nullptr, nullptr, query, run};

MAIN()
