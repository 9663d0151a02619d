// Automated edit metrics (paper eqs. 8-13): EditCLIP-based EC2T and EC2EC, the plain-CLIP
// baselines (CLIP score, CLIP directional, image-pair directional) and LPIPS.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "engine/pipelines/edit_encoder.h"
#include "engine/pipelines/progress.h"
#include "models/lpips/lpips.h"

namespace editclip {

// One evaluation sample. Images are [H,W,3] uint8; leave a field undefined/empty when unknown and
// the metrics that need it are skipped.
struct ScoreSample {
  at::Tensor input_u8, edited_u8;  // exemplar pair (EC2EC reference, image-pair directional)
  at::Tensor query_u8, output_u8;  // the edit being judged
  std::string instruction, caption_query, caption_output;
};

struct ScoreOptions {
  int64_t editclip_resize = 256;  // the authors' pair resize before the CLIP processor
};

class EditScorer {
 public:
  EditScorer(std::shared_ptr<EditEncoder> editclip, std::shared_ptr<ClipModel> clip,
             std::optional<ClipTokenizer> clip_tokenizer, ClipImageProcessor clip_processor,
             std::shared_ptr<Lpips> lpips, ScoreOptions options = {});
  // Loads what is given: editclip_dir (required), clip_dir and lpips_dir (optional; "" to skip).
  static std::unique_ptr<EditScorer> load(const std::string& editclip_dir,
                                          const std::string& clip_dir, const std::string& lpips_dir,
                                          WeightOptions options = {},
                                          ScoreOptions score_options = {});

  // Metric name -> value, for every metric the sample has inputs for:
  // EC2T, EC2EC, CLIP_score, CLIP_directional, CLIP_directional_instruction, VISII_directional,
  // LPIPS. Progress: stage "score", one step per metric group (EC2T, EC2EC, the CLIP baselines,
  // LPIPS) that the sample has inputs for; a callback returning false cancels (Cancelled).
  std::map<std::string, double> score(const ScoreSample& sample,
                                      const ProgressCallback& progress = {}) const;

  // Building blocks (also used by the parity tests).
  at::Tensor edit_embeds(const at::Tensor& a_u8, const at::Tensor& b_u8) const;  // [1,P]
  at::Tensor clip_image_embeds(const at::Tensor& u8) const;                      // [1,P']
  at::Tensor clip_text_embeds(const std::vector<std::string>& texts) const;      // [N,P']
  at::Tensor clip_pixels(const at::Tensor& u8) const;                            // [1,3,S,S]
  const EditEncoder& editclip() const { return *editclip_; }
  bool has_clip() const { return clip_ != nullptr; }

 private:
  std::shared_ptr<EditEncoder> editclip_;
  std::shared_ptr<ClipModel> clip_;
  std::optional<ClipTokenizer> clip_tokenizer_;
  ClipImageProcessor clip_processor_;
  std::shared_ptr<Lpips> lpips_;
  ScoreOptions options_;
};

// Cosine similarity of matching rows ([N,P] x [N,P] -> [N]): dot of L2-normalised vectors.
at::Tensor cosine_rows(const at::Tensor& a, const at::Tensor& b);

}  // namespace editclip
