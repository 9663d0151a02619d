// EditCLIP edit encoder: an (input, edited) exemplar pair -> edit embedding. The vision tower has 6
// input channels; its encoder output (before post_layernorm) conditions the editor and its
// projected pooled output is compared with text in the metrics.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>

#include "engine/image/clip_image_processor.h"
#include "engine/io/weight_store.h"
#include "engine/pipelines/trace.h"
#include "engine/tokenizer/clip_tokenizer.h"
#include "models/clip/clip_model.h"

namespace editclip {

struct EditEncoding {
  at::Tensor last_hidden_state;  // [B, 1+N, D] encoder output before post_layernorm
  at::Tensor image_embeds;       // [B, P] visual_projection(post_layernorm(cls)), not normalised
};

class EditEncoder {
 public:
  // `dir` is an HF CLIPModel folder whose vision tower takes 6 channels (QWW/EditCLIP).
  static std::shared_ptr<EditEncoder> load(const std::string& dir, WeightOptions options = {});
  EditEncoder(std::shared_ptr<ClipModel> model, ClipImageProcessor processor,
              std::optional<ClipTokenizer> tokenizer, std::string origin,
              WeightOptions options = {});

  // The authors' inference preprocessing: both images PIL-bicubic resized to (resize_w, resize_h),
  // then the CLIP processor's float path on each, concatenated on channels.
  at::Tensor pair_pixels(const at::Tensor& input_u8, const at::Tensor& edited_u8, int64_t resize_w,
                         int64_t resize_h) const;
  EditEncoding encode_pixels(const at::Tensor& pixel_values) const;
  EditEncoding encode(const at::Tensor& input_u8, const at::Tensor& edited_u8, int64_t resize = 256,
                      const TraceFn& trace = {}) const;
  // Text tower (EC2T): projected text embeddings [N, P] of instructions.
  at::Tensor encode_text(const std::vector<std::string>& texts) const;

  const ClipModel& model() const { return *model_; }
  std::shared_ptr<ClipModel> model_ptr() const { return model_; }
  const ClipImageProcessor& processor() const { return processor_; }
  bool has_tokenizer() const { return tokenizer_.has_value(); }
  const ClipTokenizer& tokenizer() const;
  at::Device device() const { return device_; }
  at::ScalarType compute_dtype() const { return compute_dtype_; }

 private:
  std::shared_ptr<ClipModel> model_;
  ClipImageProcessor processor_;
  std::optional<ClipTokenizer> tokenizer_;
  std::string origin_;
  at::Device device_;
  at::ScalarType compute_dtype_;
};

// Loads preprocessor_config.json from a CLIP folder, or the processor matching the vision tower's
// image size when the folder has none. A config that is invalid or whose output size differs from
// `image_size` is an error naming the file.
ClipImageProcessor load_clip_processor(const std::string& dir, int64_t image_size);
// Tokenizer files from `dir`, if present.
std::optional<ClipTokenizer> try_load_tokenizer(const std::string& dir);

}  // namespace editclip
