// Trainable instances of the release models: every weight is an owned fp32 copy on the training
// device (never a view of a memory-mapped checkpoint), bound by release name exactly as the
// inference code binds it, so the same forward code runs with autograd and export writes the
// release layouts back.
//
// Initialisations follow the authors:
//  - EditCLIP from an HF CLIPModel folder; a 3-channel vision tower is widened to 6 channels,
//    the first 3 copied and channels 3..5 zero (open_clip_train/main.py of the EditCLIP repo);
//  - the editor UNet from an 8-channel InstructPix2Pix `unet/`, or a 4-channel SD 1.x UNet whose
//    conv_in is widened to 8 with zero weights for the image-condition channels (InstructPix2Pix);
//  - a fresh ImageProj initialised as torch.nn.Linear / LayerNorm are by default.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/clip/clip_model.h"
#include "models/image_proj/image_proj.h"
#include "models/unet/unet2d_condition.h"

namespace editclip {

using TensorMap = std::map<std::string, at::Tensor>;

struct TrainableClip {
  std::string init_dir;
  nlohmann::json config_json;  // the init's config.json, vision_config.num_channels updated
  ClipConfig config;
  std::shared_ptr<ClipModel> model;
  TensorMap params;  // every weight by release name (shared with the model)
  int64_t init_channels = 0;
  bool widened() const { return init_channels != config.vision.num_channels; }
};

// `channels`: the vision tower's input channels after initialisation (6 for EditCLIP); a tower
// with 3 is widened, one that already has `channels` is taken as is, anything else is an Error.
TrainableClip load_trainable_clip(const std::string& dir, at::Device device, int64_t channels = 6);

// The HF patch convolution of the vision tower.
inline constexpr const char* kClipPatchWeight = "vision_model.embeddings.patch_embedding.weight";

struct TrainableUNet {
  std::string init_dir;        // the unet/ folder
  nlohmann::json config_json;  // its config.json, in_channels updated
  UNet2DConditionConfig config;
  std::shared_ptr<UNet2DCondition> model;
  TensorMap params;
  int64_t init_channels = 0;
  bool widened() const { return init_channels != config.in_channels; }
};

// `unet_dir`: a diffusers unet/ folder with 8 (InstructPix2Pix) or 4 (SD, widened) input channels.
TrainableUNet load_trainable_unet(const std::string& unet_dir, at::Device device);

struct TrainableImageProj {
  std::shared_ptr<ImageProj> model;
  TensorMap params;  // proj.weight, proj.bias, norm.weight, norm.bias
};

// Fresh projection clip_dim -> cross_dim (one extra token): proj.weight and proj.bias uniform in
// +-1/sqrt(clip_dim) (nn.Linear's kaiming_uniform(a=sqrt(5)) and bias rule), norm weight 1, bias 0.
// Draws come from a CPU generator seeded with `seed`.
TrainableImageProj make_image_proj(int64_t clip_dim, int64_t cross_dim, uint64_t seed,
                                   at::Device device);

// Copies `values[name]` into `params[name]` in place (no autograd), for resume and EMA swaps.
// Error naming `origin` when a name is missing from `values` (only when require_all) or a shape
// differs; names of `values` not in `params` are errors too.
void copy_params(TensorMap& params, const TensorMap& values, const std::string& origin,
                 bool require_all = true);

// Deep CPU copies (what checkpoints and export write).
TensorMap cpu_copies(const TensorMap& tensors);

// A JSON file read with an Error naming the path when it is missing or malformed.
nlohmann::json read_json_file(const std::string& path);
void write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace editclip
