// The EditCLIP-IP2P projection (the authors' ImageProjModel): maps every CLIP vision token to
// `extra_tokens` cross-attention tokens of the UNet:
//   proj = Linear(Dv, extra_tokens * C); reshape [B, T, extra*C] -> [B, T*extra, C]; LayerNorm(C).
// Release weights: image_proj_model.pt (torch.save zip) or a .safetensors conversion, with the
// tensors proj.weight, proj.bias, norm.weight, norm.bias.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "engine/io/weight_store.h"
#include "models/common/layers.h"

namespace editclip {

class ImageProj {
 public:
  // The number of extra tokens is not in any config: it is read from proj.weight's rows /
  // cross_attention_dim when the store holds that tensor, else 1.
  ImageProj(WeightStore& store, int64_t clip_embeddings_dim, int64_t cross_attention_dim);

  // `path`: a .pt/.pth checkpoint, a .safetensors file, or a folder holding
  // image_proj_model.safetensors or image_proj_model.pt.
  // clip_dim <= 0 takes the width the checkpoint was trained for.
  static ImageProj load(const std::string& path, int64_t clip_dim, int64_t cross_dim,
                        WeightOptions opts = {});

  // [B, T, Dv] or [T, Dv] (batch 1) -> [B, T * extra_tokens, C].
  at::Tensor operator()(const at::Tensor& embeds) const;

  int64_t extra_tokens() const { return extra_tokens_; }
  int64_t clip_embeddings_dim() const { return clip_dim_; }
  int64_t cross_attention_dim() const { return cross_dim_; }

 private:
  int64_t clip_dim_ = 0, cross_dim_ = 0, extra_tokens_ = 1;
  nn::Linear proj_;
  nn::LayerNorm norm_;
};

}  // namespace editclip
