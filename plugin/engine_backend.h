// The boundary between the GIMP plug-in executable (no LibTorch) and the engine, which lives in a
// MODULE library (libeditclip-gimp-engine.so) installed beside the executable and opened with
// g_module_open only when pixels are computed. Registration, argument errors and dialogs thus never
// load LibTorch.
//
// Only plain data crosses the boundary (editclip.h's image structs, strings, numbers, a progress
// std::function); edit embeddings stay inside the module behind integer handles. Errors are C++
// exceptions (both sides use the same C++ runtime); the plug-in catches std::exception.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/editclip.h"
#include "engine/pipelines/progress.h"

namespace editclip::gimp {

class EngineBackend {
 public:
  virtual ~EngineBackend() = default;

  // Creates the engine on `device` ("auto" | "cpu" | "cuda") and loads the model folders that are
  // needed (the EditCLIP encoder for embeddings and scores, the editor for applying).
  virtual void load(const ModelSettings& settings, const std::string& device, bool need_editclip,
                    bool need_editor) = 0;
  virtual std::string device() const = 0;

  // Edit embeddings; the returned handle is valid for the backend's lifetime.
  virtual int embed(const RgbImage& before, const RgbImage& after, int size,
                    const ProgressCallback& progress) = 0;
  // One preset file, or the mean of several (all from the same EditCLIP).
  virtual int load_presets(const std::vector<std::string>& paths) = 0;

  virtual RgbImage apply(int embedding, const RgbImage& query, const ApplyParams& params,
                         const ProgressCallback& progress, std::vector<std::string>* notes) = 0;
  virtual FloatImage restore_full_resolution(const FloatImage& original, const RgbImage& edited,
                                             bool guided) = 0;

  virtual double ec2t(const RgbImage& before, const RgbImage& after,
                      const std::string& instruction) = 0;
  virtual double ec2ec(int a, int b) = 0;

  // A preset's display name and thumbnails (for the apply dialog).
  virtual void read_preset(const std::string& path, std::string* name,
                           std::vector<std::pair<RgbImage, RgbImage>>* thumbnails) = 0;
  // Writes the embedding `embedding` with thumbnails of the pair as a preset file.
  virtual void save_preset(const std::string& path, const std::string& name, int embedding,
                           const RgbImage& before, const RgbImage& after) = 0;
};

}  // namespace editclip::gimp

// The module's one exported symbol. Bumped whenever EngineBackend changes, so a stale module
// beside a newer executable is reported instead of crashing.
#define EDITCLIP_GIMP_BACKEND_ABI 1
#define EDITCLIP_GIMP_BACKEND_FACTORY "editclip_gimp_create_backend"
extern "C" {
typedef editclip::gimp::EngineBackend* (*EditclipGimpCreateBackend)(int abi_version);
}
