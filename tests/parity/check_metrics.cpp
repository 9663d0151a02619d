// Kind "metrics": EC2T, EC2EC and the plain-CLIP baselines on small uint8 images.
#include <regex>

#include "engine/core/error.h"
#include "engine/pipelines/edit_scorer.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

// The pair resize is given in prose ("... PIL resize (64,64) BICUBIC ..."); default is the
// authors' 256.
std::pair<int64_t, int64_t> pair_resize(const nlohmann::json& params) {
  if (params.contains("editclip_resize_wh"))
    return {params["editclip_resize_wh"][0].get<int64_t>(),
            params["editclip_resize_wh"][1].get<int64_t>()};
  std::smatch m;
  std::string text = params.value("editclip_pair_preprocess", "");
  if (std::regex_search(text, m, std::regex(R"(\((\d+)\s*,\s*(\d+)\))")))
    return {std::stoll(m[1]), std::stoll(m[2])};
  return {256, 256};
}

void check_metrics(ParityCase& c) {
  const auto& p = c.params();
  auto [rw, rh] = pair_resize(p);
  ScoreOptions options;
  options.editclip_resize = rw;
  auto scorer =
      EditScorer::load(c.model_dir("editclip").string(),
                       c.has_model("clip") ? c.model_dir("clip").string() : "", "", {}, options);
  const auto& encoder = scorer->editclip();
  std::vector<int> samples = indexed_names(c, "input_image_");
  const auto& texts = p.at("texts");
  std::vector<std::string> instructions, caption_query, caption_output;
  for (int i : samples) {
    instructions.push_back(texts[i].value("instruction", ""));
    caption_query.push_back(texts[i].value("caption_query", ""));
    caption_output.push_back(texts[i].value("caption_output", ""));
  }

  std::map<std::string, std::vector<at::Tensor>> rows;
  std::map<std::string, at::Tensor> produced;
  auto editclip_pair = [&](const std::string& name, const at::Tensor& a, const at::Tensor& b,
                           int i) {
    at::Tensor px = encoder.pair_pixels(a, b, rw, rh);
    if (i == 0) produced["editclip_pixels_" + name + "_sample0"] = px;
    rows["editclip_embeds_" + name].push_back(encoder.encode_pixels(px).image_embeds.cpu());
  };
  for (int i : samples) {
    auto s = std::to_string(i);
    at::Tensor in = c.input("input_image_" + s), ed = c.input("edited_image_" + s),
               q = c.input("query_image_" + s), out = c.input("output_image_" + s);
    editclip_pair("ref_pair", in, ed, i);
    editclip_pair("query_output_pair", q, out, i);
    editclip_pair("input_output_pair", in, out, i);
    if (scorer->has_clip()) {
      for (auto& [name, img] : std::map<std::string, at::Tensor>{
               {"input", in}, {"edited", ed}, {"query", q}, {"output", out}}) {
        if (i == 0) produced["clip_pixels_" + name + "_sample0"] = scorer->clip_pixels(img);
        rows["clip_image_embeds_" + name].push_back(scorer->clip_image_embeds(img));
      }
    }
  }
  for (auto& [name, list] : rows) produced[name] = at::cat(list);

  const auto& tok = encoder.tokenizer();
  produced["input_ids_instruction"] = tok.encode_batch(instructions);
  produced["input_ids_caption_query"] = tok.encode_batch(caption_query);
  produced["input_ids_caption_output"] = tok.encode_batch(caption_output);
  produced["editclip_text_embeds_instruction"] = encoder.encode_text(instructions).cpu();
  produced["EC2T"] = cosine_rows(produced["editclip_embeds_input_output_pair"],
                                 produced["editclip_text_embeds_instruction"]);
  produced["EC2EC"] = cosine_rows(produced["editclip_embeds_ref_pair"],
                                  produced["editclip_embeds_query_output_pair"]);
  if (scorer->has_clip()) {
    at::Tensor t_ins = scorer->clip_text_embeds(instructions);
    at::Tensor t_q = scorer->clip_text_embeds(caption_query);
    at::Tensor t_o = scorer->clip_text_embeds(caption_output);
    produced["clip_text_embeds_instruction"] = t_ins;
    produced["clip_text_embeds_caption_query"] = t_q;
    produced["clip_text_embeds_caption_output"] = t_o;
    at::Tensor img_delta =
        produced["clip_image_embeds_output"] - produced["clip_image_embeds_query"];
    produced["CLIP_score"] = cosine_rows(produced["clip_image_embeds_output"], t_o);
    produced["CLIP_directional"] = cosine_rows(img_delta, t_o - t_q);
    produced["CLIP_directional_instruction"] = cosine_rows(img_delta, t_ins);
    produced["VISII_directional"] = cosine_rows(
        img_delta, produced["clip_image_embeds_edited"] - produced["clip_image_embeds_input"]);
  }
  c.check_all(produced);

  // The scorer's own per-sample path must agree with the batched formulas above.
  for (int i : samples) {
    auto s = std::to_string(i);
    ScoreSample sample{c.input("input_image_" + s),
                       c.input("edited_image_" + s),
                       c.input("query_image_" + s),
                       c.input("output_image_" + s),
                       instructions[i],
                       caption_query[i],
                       caption_output[i]};
    auto scores = scorer->score(sample);
    for (auto& [metric, value] : scores) {
      if (metric == "EC2T") continue;  // the scorer pairs (query, output), the case (input, output)
      if (!c.has_expected(metric)) continue;
      double ref = c.expected(metric)[i].item<double>();
      auto tol = c.tolerance(metric);
      if (std::abs(value - ref) > tol.atol + tol.rtol * std::abs(ref))
        c.fail(concat("EditScorer::score ", metric, "[", i, "] = ", value, ", expected ", ref));
    }
  }
}

}  // namespace

EDITCLIP_PARITY_KIND("metrics", check_metrics);

}  // namespace editclip::parity
