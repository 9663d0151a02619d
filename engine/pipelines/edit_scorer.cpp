#include "engine/pipelines/edit_scorer.h"

#include <c10/core/InferenceMode.h>

#include "engine/core/error.h"
#include "engine/image/image_io.h"

namespace editclip {

at::Tensor cosine_rows(const at::Tensor& a, const at::Tensor& b) {
  auto na = a.to(at::kFloat) / a.to(at::kFloat).norm(2, -1, true);
  auto nb = b.to(at::kFloat) / b.to(at::kFloat).norm(2, -1, true);
  return (na * nb).sum(-1);
}

EditScorer::EditScorer(std::shared_ptr<EditEncoder> editclip, std::shared_ptr<ClipModel> clip,
                       std::optional<ClipTokenizer> clip_tokenizer,
                       ClipImageProcessor clip_processor, std::shared_ptr<Lpips> lpips,
                       ScoreOptions options)
    : editclip_(std::move(editclip)),
      clip_(std::move(clip)),
      clip_tokenizer_(std::move(clip_tokenizer)),
      clip_processor_(std::move(clip_processor)),
      lpips_(std::move(lpips)),
      options_(options) {}

std::unique_ptr<EditScorer> EditScorer::load(const std::string& editclip_dir,
                                             const std::string& clip_dir,
                                             const std::string& lpips_dir, WeightOptions options,
                                             ScoreOptions score_options) {
  auto editclip = EditEncoder::load(editclip_dir, options);
  std::shared_ptr<ClipModel> clip;
  std::optional<ClipTokenizer> tokenizer;
  ClipImageProcessor processor{ClipImageProcessorConfig{}};
  if (!clip_dir.empty()) {
    clip = ClipModel::load(clip_dir, options);
    if (clip->config().vision.num_channels != 3)
      throw_error(clip_dir,
                  ": the plain CLIP for CLIP-score metrics must take 3 channels, this one takes ",
                  clip->config().vision.num_channels);
    processor = load_clip_processor(clip_dir, clip->config().vision.image_size);
    // The OpenAI CLIP and EditCLIP share one BPE vocabulary; borrow EditCLIP's files if the plain
    // CLIP folder ships none.
    tokenizer = try_load_tokenizer(clip_dir);
    if (!tokenizer && editclip->has_tokenizer()) tokenizer = editclip->tokenizer();
  }
  std::shared_ptr<Lpips> lpips;
  if (!lpips_dir.empty()) lpips = Lpips::load(lpips_dir, "vgg", options);
  return std::make_unique<EditScorer>(editclip, clip, tokenizer, processor, lpips, score_options);
}

at::Tensor EditScorer::edit_embeds(const at::Tensor& a_u8, const at::Tensor& b_u8) const {
  return editclip_->encode(a_u8, b_u8, options_.editclip_resize).image_embeds.to(at::kFloat).cpu();
}

at::Tensor EditScorer::clip_pixels(const at::Tensor& u8) const {
  return clip_processor_.preprocess_u8(u8).unsqueeze(0);
}

at::Tensor EditScorer::clip_image_embeds(const at::Tensor& u8) const {
  if (!clip_) throw_error("CLIP metrics need a plain CLIP model (--clip-baseline DIR)");
  c10::InferenceMode guard;
  return clip_->encode_image(clip_pixels(u8).to(editclip_->device()))
      .image_embeds.to(at::kFloat)
      .cpu();
}

at::Tensor EditScorer::clip_text_embeds(const std::vector<std::string>& texts) const {
  if (!clip_) throw_error("CLIP metrics need a plain CLIP model (--clip-baseline DIR)");
  if (!clip_tokenizer_)
    throw_error(
        "CLIP text metrics need tokenizer files (vocab.json + merges.txt) in the CLIP or "
        "EditCLIP folder");
  c10::InferenceMode guard;
  at::Tensor ids =
      clip_tokenizer_->encode_batch(texts, clip_->config().text.max_position_embeddings);
  return clip_->encode_text(ids.to(editclip_->device())).text_embeds.to(at::kFloat).cpu();
}

std::map<std::string, double> EditScorer::score(const ScoreSample& s,
                                                const ProgressCallback& progress) const {
  std::map<std::string, double> out;
  auto has = [](const at::Tensor& t) { return t.defined() && t.numel() > 0; };
  auto item = [](const at::Tensor& t) { return t.item<double>(); };
  const bool pair = has(s.input_u8) && has(s.edited_u8);
  const bool judged = has(s.query_u8) && has(s.output_u8);

  const bool do_ec2t = judged && !s.instruction.empty() && editclip_->has_tokenizer();
  const bool do_ec2ec = judged && pair;
  const bool do_clip = clip_ && judged;
  const bool do_lpips = lpips_ && judged;
  if (do_lpips && s.query_u8.sizes() != s.output_u8.sizes())
    throw_error("LPIPS needs the query and output images at the same size (", s.query_u8.size(1),
                "x", s.query_u8.size(0), " vs ", s.output_u8.size(1), "x", s.output_u8.size(0),
                ")");
  const int total = int(do_ec2t) + int(do_ec2ec) + int(do_clip) + int(do_lpips);
  int done = 0;
  report(progress, "score", done, total);
  auto step_done = [&] { report(progress, "score", ++done, total); };

  // EC2T and EC2EC judge the same (query, output) edit: encode it once.
  at::Tensor judged_embeds;
  if (do_ec2t || do_ec2ec) judged_embeds = edit_embeds(s.query_u8, s.output_u8);
  if (do_ec2t) {
    at::Tensor text = editclip_->encode_text({s.instruction}).to(at::kFloat).cpu();
    out["EC2T"] = item(cosine_rows(judged_embeds, text)[0]);
    step_done();
  }
  if (do_ec2ec) {
    out["EC2EC"] = item(cosine_rows(edit_embeds(s.input_u8, s.edited_u8), judged_embeds)[0]);
    step_done();
  }
  if (do_clip) {
    at::Tensor img_out = clip_image_embeds(s.output_u8);
    at::Tensor img_query = clip_image_embeds(s.query_u8);
    at::Tensor img_delta = img_out - img_query;
    if (clip_tokenizer_ && !s.caption_output.empty()) {
      at::Tensor cap_out = clip_text_embeds({s.caption_output});
      out["CLIP_score"] = item(cosine_rows(img_out, cap_out)[0]);
      if (!s.caption_query.empty())
        out["CLIP_directional"] =
            item(cosine_rows(img_delta, cap_out - clip_text_embeds({s.caption_query}))[0]);
    }
    if (clip_tokenizer_ && !s.instruction.empty())
      out["CLIP_directional_instruction"] =
          item(cosine_rows(img_delta, clip_text_embeds({s.instruction}))[0]);
    if (pair)
      out["VISII_directional"] = item(cosine_rows(
          img_delta, clip_image_embeds(s.edited_u8) - clip_image_embeds(s.input_u8))[0]);
    step_done();
  }
  if (do_lpips) {
    c10::InferenceMode guard;
    out["LPIPS"] =
        item(lpips_->forward(image_to_tensor_m11(s.query_u8), image_to_tensor_m11(s.output_u8))
                 .distance.flatten()[0]);
    step_done();
  }
  return out;
}

}  // namespace editclip
