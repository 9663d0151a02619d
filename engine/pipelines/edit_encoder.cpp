#include "engine/pipelines/edit_encoder.h"

#include <c10/core/InferenceMode.h>

#include <filesystem>

#include "engine/core/error.h"
#include "engine/image/editclip_preprocess.h"

namespace fs = std::filesystem;

namespace editclip {

ClipImageProcessor load_clip_processor(const std::string& dir, int64_t image_size) {
  const fs::path p = fs::path(dir) / "preprocessor_config.json";
  if (fs::exists(p)) {
    ClipImageProcessor processor(ClipImageProcessorConfig::from_file(p.string()));
    // Caught here, with the file named, rather than as a shape error inside the vision tower.
    processor.check_model_image_size(image_size, p.string());
    return processor;
  }
  ClipImageProcessorConfig config;
  config.shortest_edge = image_size;
  config.crop_height = config.crop_width = image_size;
  return ClipImageProcessor(config);
}

std::optional<ClipTokenizer> try_load_tokenizer(const std::string& dir) {
  const fs::path d(dir);
  if ((fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt")) ||
      fs::exists(d / "tokenizer.json"))
    return ClipTokenizer::from_folder(dir);
  return std::nullopt;
}

std::shared_ptr<EditEncoder> EditEncoder::load(const std::string& dir, WeightOptions options) {
  auto model = ClipModel::load(dir, options);
  const auto& vision = model->config().vision;
  if (vision.num_channels != 6)
    throw_error(dir, ": this CLIP vision tower takes ", vision.num_channels,
                " input channels, but EditCLIP needs 6 (an image pair); pass the EditCLIP model "
                "folder (QWW/EditCLIP), not a plain CLIP");
  auto processor = load_clip_processor(dir, vision.image_size);
  return std::make_shared<EditEncoder>(model, processor, try_load_tokenizer(dir), dir, options);
}

EditEncoder::EditEncoder(std::shared_ptr<ClipModel> model, ClipImageProcessor processor,
                         std::optional<ClipTokenizer> tokenizer, std::string origin,
                         WeightOptions options)
    : model_(std::move(model)),
      processor_(std::move(processor)),
      tokenizer_(std::move(tokenizer)),
      origin_(std::move(origin)),
      device_(options.device),
      compute_dtype_(compute_dtype_for(options)) {}

const ClipTokenizer& EditEncoder::tokenizer() const {
  if (!tokenizer_)
    throw_error(origin_,
                ": no tokenizer files (vocab.json + merges.txt, or tokenizer.json); they are "
                "needed for text scores");
  return *tokenizer_;
}

at::Tensor EditEncoder::pair_pixels(const at::Tensor& input_u8, const at::Tensor& edited_u8,
                                    int64_t resize_w, int64_t resize_h) const {
  return editclip_pair_pixels(processor_, input_u8, edited_u8, resize_w, resize_h);
}

EditEncoding EditEncoder::encode_pixels(const at::Tensor& pixel_values) const {
  c10::InferenceMode guard;
  auto out = model_->encode_image(pixel_values.to(device_, compute_dtype_));
  return {out.last_hidden_state, out.image_embeds};
}

EditEncoding EditEncoder::encode(const at::Tensor& input_u8, const at::Tensor& edited_u8,
                                 int64_t resize, const TraceFn& trace_fn) const {
  at::Tensor pixels = pair_pixels(input_u8, edited_u8, resize, resize);
  trace(trace_fn, "pixel_values_concat", pixels);
  EditEncoding e = encode_pixels(pixels);
  trace(trace_fn, "vision_last_hidden_state", e.last_hidden_state);
  return e;
}

at::Tensor EditEncoder::encode_text(const std::vector<std::string>& texts) const {
  c10::InferenceMode guard;
  at::Tensor ids = tokenizer().encode_batch(texts, model_->config().text.max_position_embeddings);
  return model_->encode_text(ids.to(device())).text_embeds;
}

}  // namespace editclip
