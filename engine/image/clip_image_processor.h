// Hugging Face CLIPImageProcessor (the slow, PIL-based one of transformers 4.49), reproduced
// exactly: the EditCLIP release's preprocessor_config.json drives it, and both the authors'
// inference and training feed it float images with do_rescale=False, where the processor's
// float -> uint8 conversion for PIL truncates.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>

namespace editclip {

struct ClipImageProcessorConfig {
  bool do_resize = true;
  // Resize target: shortest_edge > 0 scales the shorter side to it (aspect kept, longer side
  // truncated as transformers does); otherwise the image is resized to size_height x size_width.
  int64_t shortest_edge = 224;
  int64_t size_height = 0, size_width = 0;
  int resample = 3;  // PIL filter code (3 = bicubic)
  bool do_center_crop = true;
  int64_t crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean{0.48145466, 0.4578275, 0.40821073};  // OpenAI CLIP
  std::array<double, 3> image_std{0.26862954, 0.26130258, 0.27577711};
  bool do_convert_rgb = true;

  // Fields absent from the JSON keep transformers' CLIPImageProcessor defaults (above). Accepts
  // both "size": {"shortest_edge": N} and the legacy "size": N, "crop_size" as N or {height,
  // width}. `origin` names the file in error messages.
  static ClipImageProcessorConfig from_json(const nlohmann::json& j,
                                            const std::string& origin = "preprocessor_config.json");
  static ClipImageProcessorConfig from_file(const std::string& path);
};

class ClipImageProcessor {
 public:
  explicit ClipImageProcessor(ClipImageProcessorConfig config = {});

  const ClipImageProcessorConfig& config() const { return config_; }
  // (height, width) of the resize step for an image of height h and width w.
  std::pair<int64_t, int64_t> resize_output_size(int64_t h, int64_t w) const;
  // [C,H,W] size of preprocess_*'s output for an h x w image.
  std::array<int64_t, 3> output_shape(int64_t h, int64_t w) const;
  // Refuses (error naming `origin`) a config whose output cannot be fed to a vision tower taking
  // image_size x image_size pixels: a crop, or without crop a resize, of another size, or neither.
  void check_model_image_size(int64_t image_size, const std::string& origin) const;

  // Direct path, processor(images=PIL image): uint8 [H,W,3] (1 or 4 channels are converted as
  // PIL's convert("RGB") does) -> [3,crop_h,crop_w] float32: PIL resize, center crop,
  // rescale (float32(double(u8) * rescale_factor)), (x - mean) / std in float32.
  at::Tensor preprocess_u8(const at::Tensor& hwc_u8) const;

  // Eval/training path, processor(images=float tensor, do_rescale=False): float [3,H,W] in [0,1]
  // -> [3,crop_h,crop_w] float32. The config's do_rescale is not applied (the authors override it).
  // For the PIL resize the image goes to uint8 by truncation of float32(double(x) * 255), and
  // comes back as float32(double(u8) * (1/255)). As in transformers, an image whose values are
  // all (near-)integers is taken to be in [0, 255] already and is cast without scaling.
  at::Tensor preprocess_float(const at::Tensor& chw_float01) const;

  // The resize + center crop steps on uint8 [H,W,3] -> uint8 [h',w',3] (what PIL hands back,
  // cropped): the `*_clip_resized_u8` intermediates.
  at::Tensor resize_crop_u8(const at::Tensor& hwc_u8) const;

  // transformers' to_pil_image conversion of a float [C,H,W] image -> uint8 [H,W,C]; sets
  // *scaled when the values were multiplied by 255 (and must be divided back after PIL).
  static at::Tensor float_to_pil_u8(const at::Tensor& chw_float, bool* scaled = nullptr);

 private:
  at::Tensor resize_u8(const at::Tensor& hwc_u8) const;
  // uint8 or float32 [C,H,W] -> float32 [3,H,W] normalised (float32 arithmetic).
  at::Tensor normalize(const at::Tensor& chw_float) const;

  ClipImageProcessorConfig config_;
};

// transformers' center_crop on the first two dimensions of an [H,W,...] tensor (any dtype):
// offsets floor((size - crop) / 2); an image smaller than the crop is zero-padded around.
at::Tensor hf_center_crop_hw(const at::Tensor& hw_first, int64_t crop_h, int64_t crop_w);

}  // namespace editclip
