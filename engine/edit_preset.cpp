// Edit presets: a saved edit embedding plus thumbnails of the exemplar pair(s) it came from, in
// one safetensors file, so a preset can be recognised in a file chooser and reused without the
// exemplar images or the EditCLIP model.
#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/edit_embedding_data.h"
#include "engine/editclip.h"
#include "engine/image/pil_resample.h"
#include "engine/image/rgb_image.h"
#include "engine/io/safetensors_reader.h"

namespace editclip {

namespace {

constexpr const char* kFormat = "editclip-edit-preset";
constexpr int kVersion = 1;

std::string thumb_name(size_t i, const char* which) {
  return concat("thumbnail.", i, ".", which);
}

RgbImage read_thumbnail(const SafetensorsReader& reader, const std::string& name) {
  const auto& e = reader.entry(name);
  if (e.scalar_type != at::kByte || e.shape.size() != 3 || e.shape[2] != 3 || e.shape[0] < 1 ||
      e.shape[1] < 1)
    throw_error(reader.path(), ": tensor '", name,
                "' must be a uint8 [height, width, 3] image, is ", e.dtype, " with ",
                e.shape.size(), " dimensions");
  return rgb_image(reader.tensor(name));
}

}  // namespace

RgbImage make_thumbnail(const RgbImage& image, int max_side) {
  if (max_side < 1) throw_error("make_thumbnail: max_side ", max_side, " must be at least 1");
  const at::Tensor src = rgb_view(image, "make_thumbnail");
  const int longer = std::max(image.width, image.height);
  if (longer <= max_side) return image;
  const double scale = static_cast<double>(max_side) / longer;
  const int w = std::max(1, static_cast<int>(std::lround(image.width * scale)));
  const int h = std::max(1, static_cast<int>(std::lround(image.height * scale)));
  return rgb_image(pil_resize(src, w, h, PilFilter::Bicubic));
}

void save_preset(const std::string& path, const EditPreset& preset) {
  if (!preset.embedding.valid())
    throw_error(path, ": cannot save a preset without an edit embedding");
  const auto& d = preset.embedding.data();
  std::vector<std::pair<std::string, at::Tensor>> tensors{
      {"last_hidden_state", d.last_hidden_state}, {"image_embeds", d.image_embeds}};
  for (size_t i = 0; i < preset.thumbnails.size(); ++i) {
    const auto& [before, after] = preset.thumbnails[i];
    tensors.emplace_back(thumb_name(i, "before"),
                         rgb_view(before, concat(path, ": thumbnail ", i, " (before)")));
    tensors.emplace_back(thumb_name(i, "after"),
                         rgb_view(after, concat(path, ": thumbnail ", i, " (after)")));
  }
  write_safetensors(path, tensors,
                    {{"format", kFormat},
                     {"format_version", std::to_string(kVersion)},
                     {"name", preset.name},
                     {"pairs", std::to_string(preset.thumbnails.size())}});
}

EditPreset load_preset(const std::string& path) {
  // The reader validates header, offsets and sizes, so a corrupt file fails here with its name.
  SafetensorsReader reader(path);
  const auto& meta = reader.metadata();
  auto it = meta.find("format");
  if (it != meta.end() && it->second == kFormat) {
    auto v = meta.find("format_version");
    int version = 0;
    try {
      version = v == meta.end() ? 0 : std::stoi(v->second);
    } catch (...) {
      version = 0;
    }
    if (version < 1)
      throw_error(path, ": edit preset without a valid format_version (the file is damaged)");
    if (version > kVersion)
      throw_error(path, ": edit preset format ", version, " is newer than this EditCLIP reads (",
                  kVersion, "); update EditCLIP");
  }
  EditPreset preset;
  // Any safetensors file with the two embedding tensors loads, in particular a plain
  // `editclip embed` output: it has no thumbnails and is named after its file.
  preset.embedding = EditEmbedding::load(path);
  auto name = meta.find("name");
  preset.name = name != meta.end() && !name->second.empty()
                    ? name->second
                    : std::filesystem::path(path).stem().string();
  for (size_t i = 0;; ++i) {
    const std::string b = thumb_name(i, "before"), a = thumb_name(i, "after");
    const bool has_b = reader.contains(b), has_a = reader.contains(a);
    if (!has_b && !has_a) break;
    if (has_b != has_a)
      throw_error(path, ": thumbnail ", i, " has only its ", has_b ? "before" : "after",
                  " image (the file is damaged)");
    RgbImage before = read_thumbnail(reader, b);
    preset.thumbnails.emplace_back(std::move(before), read_thumbnail(reader, a));
  }
  return preset;
}

}  // namespace editclip
