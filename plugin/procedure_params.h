// Parameters of the EditCLIP GIMP procedures, as plain data shared by the PDB glue (plugin/) and
// the dialogs (ui/). Kept free of GTK and of the engine so a GIMP 3 front end can reuse it.
// Plain-old-data where stored with gimp_set_data (last values for "Repeat filter").
#pragma once

#include <cstdint>

namespace editclip::gimp {

// Where the edit embedding comes from.
enum class EditSource : int {
  Layers = 0,   // before/after exemplar layers
  Preset = 1,   // one saved preset file
  Average = 2,  // mean of several saved presets
};

// How the result comes back to the query layer's size (see editclip::UpscaleMode).
enum class OutputMode : int {
  GuidedFullResolution = 0,  // low-resolution change transferred to the full-resolution layer
  PlainResize = 1,           // low-resolution result simply resized (for comparison)
};

// Outside the selection the new layer is ...
enum class OutsideSelection : int {
  Transparent = 0,
  CopyOriginal = 1,
};

enum class DeviceChoice : int { Auto = 0, Cpu = 1, Gpu = 2 };

constexpr int kMaxPresetPaths = 8;
constexpr int kPathCapacity = 1024;

// The PDB's `seed` is an INT32 where -1 means random: every seed the plug-in draws or the dialog
// accepts is in 0..kMaxSeed, so the seed shown in a layer name can always be passed back.
constexpr uint32_t kMaxSeed = 2147483647u;
// Upper bounds shared by the PDB checks and the dialog's widgets.
constexpr double kMaxGuidance = 100.0;
constexpr double kMaxImageGuidance = 100.0;
// Refusal shared by the dialog and the PDB.
constexpr const char* kSameExemplarLayerMessage =
    "Before and After are the same layer: there is no edit to copy.";

struct ApplySettings {
  EditSource source = EditSource::Layers;
  int32_t before_layer = -1;  // drawable ids (any open image)
  int32_t after_layer = -1;
  int32_t preset_count = 0;                                // Preset: 1, Average: >= 1
  char preset_paths[kMaxPresetPaths][kPathCapacity] = {};  // NUL-terminated
  int32_t steps = 20;
  double guidance = 7.0;
  double image_guidance = 1.5;
  uint32_t seed = 0;        // 0..kMaxSeed
  int32_t random_seed = 0;  // gboolean: draw a new seed (0..kMaxSeed) on every run
  int32_t size = 256;       // processing size (rounded to a multiple of 8)
  DeviceChoice device = DeviceChoice::Auto;
  OutputMode output_mode = OutputMode::GuidedFullResolution;
  OutsideSelection outside = OutsideSelection::Transparent;
};

enum class ScoreMode : int {
  Instruction = 0,    // EC2T: pair against an instruction text
  ReferencePair = 1,  // EC2EC: pair against a reference pair
};

struct ScoreSettings {
  ScoreMode mode = ScoreMode::Instruction;
  int32_t before_layer = -1, after_layer = -1;          // the edit being judged
  int32_t ref_before_layer = -1, ref_after_layer = -1;  // EC2EC reference pair
  char instruction[kPathCapacity] = {};
};

struct SavePresetSettings {
  int32_t before_layer = -1, after_layer = -1;
  char name[256] = {};
  int32_t size = 256;  // the pair is resized to size x size for the edit encoder
};

}  // namespace editclip::gimp
