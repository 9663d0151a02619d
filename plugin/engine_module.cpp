// The engine side of plugin/engine_backend.h, built as the MODULE libeditclip-gimp-engine.so that
// links the engine (and LibTorch). Only the factory is exported.
#include <memory>
#include <vector>

#include "engine/core/cpu_tuning.h"
#include "engine/core/error.h"
#include "engine/editclip.h"
#include "plugin/engine_backend.h"

namespace editclip::gimp {
namespace {

class ModuleBackend final : public EngineBackend {
 public:
  void load(const ModelSettings& settings, const std::string& device, bool need_editclip,
            bool need_editor) override {
    configure_cpu();
    EngineOptions options{device.empty() ? settings.device : device, settings.precision,
                          settings.threads};
    engine_ = std::make_unique<Engine>(options);
    if (need_editclip) engine_->load_editclip(settings.editclip_dir);
    if (need_editor) engine_->load_editor(settings.editor_dir);
  }

  std::string device() const override { return engine().device(); }

  int embed(const RgbImage& before, const RgbImage& after, int size,
            const ProgressCallback& progress) override {
    embeddings_.push_back(engine().embed(before, after, size, progress));
    return static_cast<int>(embeddings_.size()) - 1;
  }

  int load_presets(const std::vector<std::string>& paths) override {
    if (paths.empty()) throw_error("no preset given");
    std::vector<EditEmbedding> all;
    for (const auto& p : paths) all.push_back(load_preset(p).embedding);
    embeddings_.push_back(all.size() == 1 ? all.front() : EditEmbedding::average(all));
    return static_cast<int>(embeddings_.size()) - 1;
  }

  RgbImage apply(int embedding, const RgbImage& query, const ApplyParams& params,
                 const ProgressCallback& progress, std::vector<std::string>* notes) override {
    return engine().apply(get(embedding), query, params, progress, notes);
  }

  FloatImage restore_full_resolution(const FloatImage& original, const RgbImage& edited,
                                     bool guided) override {
    return editclip::restore_full_resolution(original, edited,
                                             guided ? UpscaleMode::Guided : UpscaleMode::Plain);
  }

  double ec2t(const RgbImage& before, const RgbImage& after,
              const std::string& instruction) override {
    return engine().ec2t(before, after, instruction);
  }

  double ec2ec(int a, int b) override { return engine().ec2ec(get(a), get(b)); }

  void save_preset(const std::string& path, const std::string& name, int embedding,
                   const RgbImage& before, const RgbImage& after) override {
    EditPreset preset;
    preset.name = name;
    preset.embedding = get(embedding);
    preset.thumbnails.emplace_back(make_thumbnail(before), make_thumbnail(after));
    editclip::save_preset(path, preset);
  }

  void read_preset(const std::string& path, std::string* name,
                   std::vector<std::pair<RgbImage, RgbImage>>* thumbnails) override {
    EditPreset preset = load_preset(path);
    if (name) *name = preset.name;
    if (thumbnails) *thumbnails = std::move(preset.thumbnails);
  }

 private:
  const Engine& engine() const {
    if (!engine_) throw_error("internal: engine used before load()");
    return *engine_;
  }
  const EditEmbedding& get(int handle) const {
    if (handle < 0 || handle >= static_cast<int>(embeddings_.size()))
      throw_error("internal: unknown edit embedding handle ", handle);
    return embeddings_[handle];
  }

  std::unique_ptr<Engine> engine_;
  std::vector<EditEmbedding> embeddings_;
};

}  // namespace
}  // namespace editclip::gimp

extern "C" __attribute__((visibility("default"))) editclip::gimp::EngineBackend*
editclip_gimp_create_backend(int abi_version) {
  if (abi_version != EDITCLIP_GIMP_BACKEND_ABI) return nullptr;
  return new editclip::gimp::ModuleBackend();
}
