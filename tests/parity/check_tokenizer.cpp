// Kind "tokenizer": case.json strings[i].text -> HF CLIPTokenizer ids (input_ids, padded with the
// pad id), attention_mask, and open_clip SimpleTokenizer ids (input_ids_openclip, padded with 0).
// Both the vocab.json+merges.txt and the tokenizer.json loading paths must give the same ids.
#include <filesystem>

#include "engine/core/error.h"
#include "engine/tokenizer/clip_tokenizer.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

namespace fs = std::filesystem;

// Names the rows that differ, so a failure points at the strings to look at.
void explain_rows(ParityCase& c, const std::string& name, const at::Tensor& actual,
                  const std::vector<std::string>& texts) {
  if (!c.has_expected(name)) return;
  const at::Tensor expected = c.expected(name).to(at::kLong);
  if (!expected.sizes().equals(actual.sizes())) return;
  const at::Tensor bad_rows = (expected != actual).any(1).nonzero().flatten();
  const int64_t n = bad_rows.numel();
  for (int64_t k = 0; k < std::min<int64_t>(n, 5); ++k) {
    const int64_t r = bad_rows[k].item<int64_t>();
    c.fail(concat(name, " row ", r, " differs (text \"", texts[r], "\")"));
  }
}

void check_tokenizer(ParityCase& c) {
  const auto& p = c.params();
  std::vector<std::string> texts;
  for (const auto& s : c.spec().at("strings")) texts.push_back(s.at("text").get<std::string>());
  if (p.contains("num_strings") && p["num_strings"].get<size_t>() != texts.size())
    c.fail(concat("params.num_strings ", p["num_strings"].get<size_t>(), " != ", texts.size(),
                  " strings"));
  const int64_t context = p.value("context_length", int64_t{77});
  const fs::path dir = c.model_dir("tokenizer");
  const ClipTokenizer tok = ClipTokenizer::from_folder(dir.string());
  const int64_t hf_pad = p.value("hf_pad_id", tok.eos_id());
  const int64_t oc_pad = p.value("openclip_pad_id", int64_t{0});
  if (p.contains("bos_id") && p["bos_id"].get<int64_t>() != tok.bos_id())
    c.fail(concat("bos id ", tok.bos_id(), " != params.bos_id ", p["bos_id"].get<int64_t>()));
  if (p.contains("eos_id") && p["eos_id"].get<int64_t>() != tok.eos_id())
    c.fail(concat("eos id ", tok.eos_id(), " != params.eos_id ", p["eos_id"].get<int64_t>()));

  const auto hf = tok.encode_batch_with_mask(texts, context, hf_pad);
  const auto oc =
      tok.encode_batch_with_mask(texts, context, oc_pad, ClipTokenizer::Flavor::OpenClip);
  const std::map<std::string, at::Tensor> produced = {{"input_ids", hf.input_ids},
                                                      {"attention_mask", hf.attention_mask},
                                                      {"input_ids_openclip", oc.input_ids}};
  for (const auto& [name, tensor] : produced) {
    if (!c.has_expected(name)) continue;
    c.check(name, tensor);
    explain_rows(c, name, tensor, texts);
  }

  // The tokenizer.json path (what a folder without vocab.json/merges.txt uses) must agree.
  const fs::path json = dir / "tokenizer.json";
  if (fs::exists(json) && c.has_expected("input_ids")) {
    const ClipTokenizer from_json = ClipTokenizer::from_tokenizer_json(json.string());
    const at::Tensor ids = from_json.encode_batch(texts, context, hf_pad);
    if (!ids.equal(hf.input_ids))
      c.fail("tokenizer.json ids differ from vocab.json+merges.txt ids");
  }
}

}  // namespace

EDITCLIP_PARITY_KIND("tokenizer", check_tokenizer);

}  // namespace editclip::parity
