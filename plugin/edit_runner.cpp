#include "plugin/edit_runner.h"

#include <glib/gstdio.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

#include "engine/core/error.h"
#include "engine/pipelines/progress.h"
#include "plugin/engine_loader.h"
#include "plugin/gimp_io.h"
#include "plugin/pixel_transfer.h"

namespace editclip::gimp {

// ---- progress ---------------------------------------------------------------------------------

GimpProgressSink::GimpProgressSink(const std::string& title) {
  gimp_progress_init(title.c_str());
}

GimpProgressSink::~GimpProgressSink() {
  gimp_progress_end();
}

bool GimpProgressSink::update(double fraction, const std::string& text) {
  if (text != last_text_) {
    gimp_progress_set_text(text.c_str());
    last_text_ = text;
  }
  gimp_progress_update(std::clamp(fraction, 0.0, 1.0));
  return true;
}

namespace {
std::chrono::steady_clock::time_point g_start = std::chrono::steady_clock::now();
}

void timing_start() {
  g_start = std::chrono::steady_clock::now();
  static bool once = false;
  if (!g_getenv("EDITCLIP_GIMP_TIMING") || once) return;
  once = true;
  // How long the plug-in process ran before run(): exec, libgimp and GEGL start-up, also part
  // of what a user waits for after OK.
  gchar* stat = nullptr;
  gchar* uptime = nullptr;
  if (g_file_get_contents("/proc/self/stat", &stat, nullptr, nullptr) &&
      g_file_get_contents("/proc/uptime", &uptime, nullptr, nullptr)) {
    const char* p = strrchr(stat, ')');
    gchar** fields = g_strsplit(p ? p + 2 : "", " ", -1);
    // Field 22 of stat (starttime) is the 20th after the command name.
    if (g_strv_length(fields) > 19) {
      const double started = g_ascii_strtod(fields[19], nullptr) / sysconf(_SC_CLK_TCK);
      const double now = g_ascii_strtod(uptime, nullptr);
      g_printerr("editclip-gimp timing: %-18s %8.3f s\n", "process-age", now - started);
    }
    g_strfreev(fields);
  }
  g_free(stat);
  g_free(uptime);
}

void timing_mark(const char* event) {
  if (!g_getenv("EDITCLIP_GIMP_TIMING")) return;
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  g_printerr("editclip-gimp timing: %-18s %8.3f s\n", event, s);
}

// ---- presets and settings ---------------------------------------------------------------------

std::string presets_dir() {
  gchar* dir = g_build_filename(gimp_directory(), "editclip", "presets", nullptr);
  std::string out = dir;
  g_free(dir);
  return out;
}

std::vector<std::string> resolve_presets(const std::string& list) {
  std::vector<std::string> out;
  gchar** parts = g_strsplit(list.c_str(), G_SEARCHPATH_SEPARATOR_S, -1);
  for (gchar** p = parts; *p; ++p) {
    std::string item = g_strstrip(*p);
    if (item.empty()) continue;
    std::string path = item;
    if (item.find(G_DIR_SEPARATOR) == std::string::npos) {
      if (!g_str_has_suffix(item.c_str(), ".editclip")) item += ".editclip";
      gchar* full = g_build_filename(presets_dir().c_str(), item.c_str(), nullptr);
      path = full;
      g_free(full);
    }
    if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR)) {
      g_strfreev(parts);
      throw CallingError(
          concat("preset '", path, "' not found (saved presets are in ", presets_dir(), ")"));
    }
    out.push_back(path);
  }
  g_strfreev(parts);
  if (out.empty()) throw CallingError("no preset given: set before-layer/after-layer or 'preset'");
  if (static_cast<int>(out.size()) > kMaxPresetPaths)
    throw CallingError(
        concat("at most ", kMaxPresetPaths, " presets can be averaged, got ", out.size()));
  return out;
}

ModelSettings settings_for_run(DeviceChoice device, bool need_editor) {
  ModelSettings s = load_model_settings();
  if (device == DeviceChoice::Cpu) s.device = "cpu";
  if (device == DeviceChoice::Gpu) s.device = "cuda";
  // Scoring needs only the EditCLIP folder: do not refuse it for a missing editor.
  const bool clip_ok =
      !s.editclip_dir.empty() &&
      g_file_test((s.editclip_dir + "/config.json").c_str(), G_FILE_TEST_IS_REGULAR);
  if (need_editor || !clip_ok) {
    const std::string missing = describe_missing_models(s);
    if (!missing.empty()) throw Error(missing);
  }
  return s;
}

// ---- the runner ---------------------------------------------------------------------------------

namespace {

// Share of one query's progress per engine stage.
double stage_fraction(const Progress& p) {
  const double f = p.total > 0 ? static_cast<double>(p.step) / p.total : 0.0;
  if (p.stage == "encode") return 0.05 * f;
  if (p.stage == "denoise") return 0.05 + 0.85 * f;
  if (p.stage == "decode") return 0.90 + 0.07 * f;
  return 0.0;
}

std::string stage_text(const Progress& p) {
  if (p.stage == "denoise") return concat("step ", p.step, "/", p.total);
  if (p.stage == "encode") return "encoding the layer";
  if (p.stage == "decode") return "decoding";
  return p.stage;
}

}  // namespace

EditRunner::EditRunner(const ApplySettings& settings, uint32_t seed, ProgressSink& progress)
    : settings_(settings), seed_(seed), progress_(progress) {}

EditRunner::~EditRunner() = default;

bool EditRunner::report(double fraction, const std::string& text) {
  if (!progress_.update(fraction, text)) cancelled_ = true;
  return !cancelled_;
}

bool EditRunner::is_exemplar(gint32 drawable) const {
  return settings_.source == EditSource::Layers &&
         (drawable == settings_.before_layer || drawable == settings_.after_layer);
}

void EditRunner::read_exemplars() {
  if (settings_.source == EditSource::Layers) {
    before_ = read_exemplar(settings_.before_layer, "before-layer");
    after_ = read_exemplar(settings_.after_layer, "after-layer");
    before_name_ = item_name(settings_.before_layer);
    after_name_ = item_name(settings_.after_layer);
    if (before_.width != after_.width || before_.height != after_.height)
      notes_.push_back(concat("before (", before_.width, "x", before_.height, ") and after (",
                              after_.width, "x", after_.height,
                              ") differ in size; both are resized to the same square for the "
                              "edit encoder"));
  } else {
    std::string list;
    for (int i = 0; i < settings_.preset_count && i < kMaxPresetPaths; ++i) {
      if (!list.empty()) list += G_SEARCHPATH_SEPARATOR_S;
      list += settings_.preset_paths[i];
    }
    preset_paths_ = resolve_presets(list);
  }
}

void EditRunner::prepare(double share) {
  const ModelSettings models = settings_for_run(settings_.device, true);
  if (!report(0.0, "EditCLIP: loading the engine")) throw Cancelled();
  backend_ = create_engine_backend();
  timing_mark("module-loaded");
  backend_->load(models, models.device, settings_.source == EditSource::Layers, true);
  timing_mark("models-loaded");
  if (!report(share * 0.5, "EditCLIP: encoding the exemplar")) throw Cancelled();
  if (settings_.source == EditSource::Layers) {
    embedding_ = backend_->embed(before_, after_, settings_.size, [&](const Progress&) {
      return report(share * 0.5, "EditCLIP: encoding the exemplar");
    });
  } else {
    embedding_ = backend_->load_presets(preset_paths_);
  }
  timing_mark("embedded");
  if (!report(share, "EditCLIP: exemplar encoded")) throw Cancelled();
}

std::string EditRunner::layer_name() const {
  std::string what;
  if (settings_.source == EditSource::Layers) {
    what = before_name_ + " \u2192 " + after_name_;
  } else {
    for (const auto& p : preset_paths_) {
      gchar* base = g_path_get_basename(p.c_str());
      std::string b = base;
      g_free(base);
      if (g_str_has_suffix(b.c_str(), ".editclip")) b.resize(b.size() - 9);
      what += (what.empty() ? "" : " + ") + b;
    }
  }
  return concat("EditCLIP: ", what, " (seed ", seed_, ")");
}

gint32 EditRunner::apply(const QueryLayer& query, double lo, double hi, const std::string& label) {
  if (!backend_) throw_error("internal: EditRunner::apply before prepare");

  // What the model sees: the processed part composited on white (as the CLI does).
  const FloatImage flat = flatten(query.original);
  const RgbImage input = flatten_to_rgb8(query.original);
  ApplyParams params;
  params.steps = settings_.steps;
  params.seed = seed_;
  params.guidance = settings_.guidance;
  params.image_guidance = settings_.image_guidance;
  params.size = settings_.size;
  bool first_step_marked = false;
  const RgbImage edited = backend_->apply(
      embedding_, input, params,
      [&](const Progress& p) {
        if (p.stage == "encode" && p.step == 0) timing_mark("vae-encode-start");
        if (p.stage == "denoise" && !first_step_marked) {
          timing_mark(p.step == 0 ? "first-step-start" : "first-step-done");
          if (p.step >= 1) first_step_marked = true;
        }
        return report(lo + (hi - lo) * stage_fraction(p), label + stage_text(p));
      },
      &notes_);
  if (!report(lo + (hi - lo) * 0.97, label + "back to full resolution")) throw Cancelled();

  // Full resolution: the change is carried onto the flattened original, then the colours are
  // un-composited so unedited (also semi-transparent) pixels keep their exact values.
  FloatImage full = backend_->restore_full_resolution(
      flat, edited, settings_.output_mode == OutputMode::GuidedFullResolution);
  if (full.channels != 4 || full.width != flat.width || full.height != flat.height)
    throw_error("internal: full-resolution result is ", full.width, "x", full.height, "x",
                full.channels, ", expected ", flat.width, "x", flat.height, "x4");
  for (size_t i = 3; i < full.pixels.size(); i += 4) full.pixels[i] = flat.pixels[i];
  full = unflatten(full);
  const FloatImage box = blend_through_mask(query.original, full, query.mask, settings_.outside);
  const FloatImage layer = compose_layer(query, box, settings_.outside);
  if (cancelled_) throw Cancelled();
  const gint32 result = insert_result_layer(query, layer, layer_name());
  report(hi, label + "done");
  return result;
}

}  // namespace editclip::gimp
