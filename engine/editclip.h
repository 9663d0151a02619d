// EditCLIP engine: the one API the CLI and the GIMP plug-in call.
//
// It hides LibTorch entirely (plain pixels and strings in, pixels and numbers out), so front ends
// compile without Torch headers and the plug-in can load the engine library lazily.
//
//   editclip::Engine engine({"auto", "fp32"});
//   engine.load_editclip("/models/EditCLIP");
//   engine.load_editor("/models/EditCLIP-IP2P");
//   auto edit = engine.embed(before, after);
//   editclip::RgbImage result = engine.apply(edit, query, params, on_progress);
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace editclip {

struct Progress;
using ProgressCallback = std::function<bool(const Progress&)>;  // see engine/pipelines/progress.h

// Interleaved 8-bit RGB, row-major, no padding.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
  bool empty() const { return width <= 0 || height <= 0; }
};

struct EngineOptions {
  std::string device = "auto";     // auto | cpu | cuda
  std::string precision = "fp32";  // weight storage: fp32 | fp16 | bf16
  int threads = 0;                 // CPU intra-op threads, 0 = all
};

struct ApplyParams {
  int steps = 50;
  uint64_t seed = 0;
  double guidance = 7.0;
  double image_guidance = 1.5;
  int size = 256;  // processing size: the query is scaled to about size*size pixels (aspect kept,
                   // sides multiples of 8); a square query becomes exactly size x size.
};

// An edit embedding, computed once from an exemplar pair and reused for many queries. Saved as
// safetensors with `last_hidden_state` and `image_embeds`.
class EditEmbedding {
 public:
  struct Data;
  EditEmbedding();
  explicit EditEmbedding(std::shared_ptr<const Data> data);
  bool valid() const { return data_ != nullptr; }
  void save(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;
  static EditEmbedding load(const std::string& path);  // origin() is `path`
  // Mean of several exemplar pairs' embeddings (all from the same EditCLIP).
  static EditEmbedding average(const std::vector<EditEmbedding>& embeddings);
  const Data& data() const;
  // Where it came from ("<file>", "average of N embeddings (...)", or empty when computed in this
  // process), so errors about it can name the file.
  const std::string& origin() const;

 private:
  std::shared_ptr<const Data> data_;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Model folders in their release layouts; each call validates and memory-maps the weights.
  void load_editclip(const std::string& clip_dir);
  void load_editor(const std::string& pipeline_dir);
  void load_clip_baseline(const std::string& clip_dir);  // plain CLIP for the baseline metrics
  void load_lpips(const std::string& dir, const std::string& net = "vgg");

  std::string device() const;  // "cpu" or "cuda:0"

  EditEmbedding embed(const RgbImage& before, const RgbImage& after, int resize = 256,
                      const ProgressCallback& progress = {}) const;
  // Edits `query`; the result has the processing size (see ApplyParams::size). Notes about
  // conversions made (rounded sizes, ...) are appended to `notes` when given.
  RgbImage apply(const EditEmbedding& edit, const RgbImage& query, const ApplyParams& params,
                 const ProgressCallback& progress = {},
                 std::vector<std::string>* notes = nullptr) const;

  struct ScoreInput {
    RgbImage before, after;  // exemplar pair (EC2EC, image-pair directional)
    RgbImage query, output;  // the edit being judged
    std::string instruction, caption_query, caption_output;
  };
  // Every metric computable from the inputs and loaded models, by name. Progress: stage "score",
  // one step per metric group; returning false cancels (Cancelled is thrown).
  std::map<std::string, double> score(const ScoreInput& input,
                                      const ProgressCallback& progress = {}) const;
  // Whether the loaded EditCLIP folder has tokenizer files (EC2T needs them).
  bool editclip_has_tokenizer() const;
  double ec2t(const RgbImage& before, const RgbImage& after, const std::string& instruction) const;
  double ec2ec(const EditEmbedding& a, const EditEmbedding& b) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Processing size for a query of w x h pixels at `size` (see ApplyParams::size).
std::pair<int, int> processing_size(int w, int h, int size);
// Rounds `size` to a multiple of 8 (at least 8); `note` explains any change. A size below 1 is
// an error ("--size 0: ..."), never rounded.
int round_size_to_multiple_of_8(int size, std::string* note = nullptr);

// ---- full resolution ---------------------------------------------------------------------------

// Interleaved float pixels in [0,1], sRGB-encoded like the 8-bit images (what a GIMP layer read
// as "R'G'B'A float" holds). channels is 3 (RGB) or 4 (RGBA, straight alpha).
struct FloatImage {
  int width = 0, height = 0, channels = 3;
  std::vector<float> pixels;  // width * height * channels
  bool empty() const { return width <= 0 || height <= 0; }
};

// How a result computed at the processing size returns to the query's full size.
enum class UpscaleMode {
  Guided,  // the low-resolution *change* is transferred onto the full-resolution original, guided
           // by it, so detail the model never saw survives (default)
  Plain,   // the low-resolution result is simply resized (for comparison)
};
UpscaleMode parse_upscale_mode(const std::string& name);  // "guided" | "plain"
std::string upscale_mode_name(UpscaleMode mode);

// `edited` is the engine's result for `original` (any size; normally the processing size).
// Returns an image of original's size and channel count; an alpha channel is copied unchanged.
// When `edited` already has original's size, its pixels are returned as they are in both modes.
// Guided reads the guide as the engine did (to_rgb8 of `original`, PIL bicubic to edited's size).
// About 0.5 s for a 4000x3000 layer on one CPU core.
FloatImage restore_full_resolution(const FloatImage& original, const RgbImage& edited,
                                   UpscaleMode mode = UpscaleMode::Guided);
FloatImage to_float_image(const RgbImage& image);
// Rounds to 8 bits; alpha (if any) is dropped: the engine works on RGB.
RgbImage to_rgb8(const FloatImage& image);

// ---- where the weights are
// -----------------------------------------------------------------------

// Model locations and run options shared by the CLI and the GIMP plug-in. Stored as JSON in
// settings_path(); environment variables override the file (see load_model_settings).
struct ModelSettings {
  std::string editclip_dir;       // HF CLIPModel folder of QWW/EditCLIP (6-channel vision tower)
  std::string editor_dir;         // editor pipeline: unet/ vae/ scheduler/ image_proj_model.pt
  std::string clip_baseline_dir;  // optional: plain CLIP for the baseline metrics
  std::string lpips_dir;          // optional: LPIPS weights
  std::string device = "auto";
  std::string precision = "fp32";
  int threads = 0;
};

// $EDITCLIP_SETTINGS, else $XDG_CONFIG_HOME/editclip/settings.json (~/.config/... by default).
std::string settings_path();
// Reads settings_path() (a missing file gives defaults), then applies the overrides
// EDITCLIP_CLIP_DIR, EDITCLIP_EDITOR_DIR, EDITCLIP_CLIP_BASELINE_DIR, EDITCLIP_LPIPS_DIR,
// EDITCLIP_DEVICE, EDITCLIP_PRECISION, EDITCLIP_THREADS (empty variables are ignored). A malformed
// file is an error naming it. The JSON keys are the field names above; unknown keys are ignored,
// a known key of the wrong type or an invalid value is an error. Folder paths may start with
// "~/"; relative ones in the file are relative to the file's folder.
ModelSettings load_model_settings();
// The file alone, without the environment (what `editclip config --set` edits).
ModelSettings read_model_settings_file(const std::string& path);
// Writes atomically (temp file + rename), creating the folder; keys it does not know that the
// existing file holds are kept. An empty path means settings_path().
void save_model_settings(const ModelSettings& settings, const std::string& path = "");
// Every field as (JSON key, value as text), in file order.
std::vector<std::pair<std::string, std::string>> model_settings_entries(const ModelSettings& s);
// Sets one field from text by its JSON key; an unknown key or invalid value is an error that
// lists what is accepted.
void set_model_setting(ModelSettings& settings, const std::string& key, const std::string& value);
// The environment variables that override the file right now: JSON key -> variable name.
std::map<std::string, std::string> model_settings_env_overrides();
// Empty when the two required folders exist and hold their config files; otherwise a multi-line
// explanation for a first-time user: what to download (QWW/EditCLIP, QWW/EditCLIP-IP2P plus vae/
// and scheduler/ of timbrooks/instruct-pix2pix), where to put it, how to set the paths (settings
// file / environment / plug-in settings dialog) and how `editclip inspect DIR` verifies it.
std::string describe_missing_models(const ModelSettings& settings);

// ---- edit presets
// --------------------------------------------------------------------------------

// A saved edit: its embedding plus small thumbnails of the exemplar pair(s) it came from, so a
// user can recognise it. One safetensors file (the embedding tensors, `thumbnail.<i>.before` /
// `thumbnail.<i>.after` uint8 [h,w,3], metadata with the name and pair count).
struct EditPreset {
  std::string name;
  EditEmbedding embedding;
  std::vector<std::pair<RgbImage, RgbImage>> thumbnails;  // (before, after) per exemplar pair
};
void save_preset(const std::string& path, const EditPreset& preset);
EditPreset load_preset(const std::string& path);
// Aspect-preserving PIL bicubic downscale so the longer side is at most `max_side`.
RgbImage make_thumbnail(const RgbImage& image, int max_side = 128);

RgbImage read_image(const std::string& path, std::vector<std::string>* notes = nullptr);
void write_image(const std::string& path, const RgbImage& image);
// Checks, before any work, that write_image(path, ...) can succeed as far as can be known: the
// folder exists and is writable and this build writes the extension. Error naming the path.
void check_output_image_path(const std::string& path);
// The same for any other output file (safetensors, JSON): the location only.
void check_output_file_path(const std::string& path);

}  // namespace editclip
