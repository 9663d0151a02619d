#include "models/image_proj/image_proj.h"

#include <filesystem>

#include "engine/core/error.h"

namespace editclip {

namespace fs = std::filesystem;

ImageProj::ImageProj(WeightStore& store, int64_t clip_embeddings_dim, int64_t cross_attention_dim)
    : clip_dim_(clip_embeddings_dim), cross_dim_(cross_attention_dim) {
  if (clip_dim_ <= 0 || cross_dim_ <= 0)
    throw_error(store.origin(), ": ImageProj needs positive dimensions (clip_embeddings_dim ",
                clip_dim_, ", cross_attention_dim ", cross_dim_, ")");
  if (store.mode() != WeightStore::Mode::Random) {
    if (auto shape = store.stored_shape("proj.weight"); shape && !shape->empty()) {
      const int64_t rows = shape->front();
      if (rows > 0 && rows % cross_dim_ == 0) {
        extra_tokens_ = rows / cross_dim_;
      } else if (store.mode() == WeightStore::Mode::Load) {
        throw_error(store.origin(), ": tensor 'proj.weight' has ", rows,
                    " rows, not a multiple of the UNet's cross_attention_dim ", cross_dim_,
                    " (the projection belongs to a different UNet)");
      }
      // Check mode keeps 1 token; binding then records the wrong shape.
    }
  }
  proj_.bind(store, "proj", clip_dim_, extra_tokens_ * cross_dim_);
  norm_.bind(store, "norm", cross_dim_, 1e-5);
}

ImageProj ImageProj::load(const std::string& path, int64_t clip_dim, int64_t cross_dim,
                          WeightOptions opts) {
  std::string file = path;
  if (fs::is_directory(path)) {
    const fs::path dir(path);
    if (fs::exists(dir / "image_proj_model.safetensors"))
      file = (dir / "image_proj_model.safetensors").string();
    else if (fs::exists(dir / "image_proj_model.pt"))
      file = (dir / "image_proj_model.pt").string();
    else
      throw_error(path,
                  ": no image_proj_model.safetensors or image_proj_model.pt in the folder "
                  "(download it from the EditCLIP-IP2P release)");
  }
  WeightStore store(file, WeightStore::Mode::Load, opts);
  const std::string ext = fs::path(file).extension().string();
  if (ext == ".safetensors")
    store.add_safetensors(file);
  else
    store.add_torch_checkpoint(file);
  // clip_dim <= 0: take the EditCLIP width the projection was trained for from the checkpoint.
  if (clip_dim <= 0) {
    auto shape = store.stored_shape("proj.weight");
    if (!shape || shape->size() != 2)
      throw_error(file,
                  ": tensor 'proj.weight' is missing or not 2-D; not an ImageProjModel "
                  "checkpoint");
    clip_dim = (*shape)[1];
  }
  ImageProj model(store, clip_dim, cross_dim);
  store.require_all_used();
  return model;
}

at::Tensor ImageProj::operator()(const at::Tensor& embeds) const {
  if (!embeds.defined() || (embeds.dim() != 2 && embeds.dim() != 3) || embeds.size(-1) != clip_dim_)
    throw_error("ImageProj: expected embeddings [B, T, ", clip_dim_, "] or [T, ", clip_dim_,
                "], got ", embeds.defined() ? shape_string(embeds.sizes()) : "nothing",
                " (the vision encoder width does not match the projection)");
  const at::Tensor x = embeds.dim() == 2 ? embeds.unsqueeze(0) : embeds;
  const int64_t batch = x.size(0), tokens = x.size(1);
  at::Tensor y = proj_(x).reshape({batch, tokens * extra_tokens_, cross_dim_});
  return norm_(y);
}

}  // namespace editclip
