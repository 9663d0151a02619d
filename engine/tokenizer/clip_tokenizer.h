// CLIP's byte-level BPE tokenizer, reproducing the ids of HF's slow `CLIPTokenizer` (with ftfy)
// and of open_clip's `SimpleTokenizer` exactly.
//
// Pipeline per text: [HF: split off literal "<|startoftext|>"/"<|endoftext|>" first, like HF's
// added-token trie] -> fix_text (ftfy 6.3.1) -> [open_clip: html.unescape twice] -> collapse
// whitespace runs to ' ' and strip -> Python str.lower() -> the CLIP regex
// `<special>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+` (case-insensitive) ->
// UTF-8 bytes -> byte-to-unicode map -> BPE ('</w>' on the last symbol, merges applied by
// merges.txt rank) -> vocab ids. Unknown pieces map to the "<|endoftext|>" id (HF's unk token).
//
// Both vocab.json+merges.txt and tokenizer.json give the same ids: the tokenizer.json normalizer
// (NFC only, no ftfy) is ignored and the slow tokenizer's cleaning is always applied.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace editclip {

class ClipTokenizer {
 public:
  // HuggingFace: HF CLIPTokenizer (slow, ftfy). OpenClip: open_clip SimpleTokenizer, which also
  // runs html.unescape twice after ftfy and recognises "<start_of_text>"/"<end_of_text>".
  enum class Flavor { HuggingFace, OpenClip };

  struct Batch {
    at::Tensor input_ids;       // [N, context] int64
    at::Tensor attention_mask;  // [N, context] int64: 1 for BOS..EOS, 0 for padding
  };

  // vocab.json + merges.txt when both exist, otherwise tokenizer.json (model.vocab and
  // model.merges). Throws editclip::Error naming what is missing or malformed.
  static ClipTokenizer from_folder(const std::string& dir);
  static ClipTokenizer from_vocab_merges(const std::string& vocab_json,
                                         const std::string& merges_txt);
  static ClipTokenizer from_tokenizer_json(const std::string& path);

  // BPE ids of one text: no BOS/EOS, no truncation.
  std::vector<int64_t> encode(const std::string& text, Flavor flavor = Flavor::HuggingFace) const;

  // [N, context_length] ids: BOS + ids truncated to context_length-2 + EOS, right-padded with
  // pad_id (negative: the EOS id, HF CLIP's pad token). The mask marks BOS..EOS.
  Batch encode_batch_with_mask(const std::vector<std::string>& texts, int64_t context_length = 77,
                               int64_t pad_id = -1, Flavor flavor = Flavor::HuggingFace) const;
  at::Tensor encode_batch(const std::vector<std::string>& texts, int64_t context_length = 77,
                          int64_t pad_id = -1) const;
  // open_clip's tokenize(): open_clip cleaning, padded with 0.
  at::Tensor encode_batch_openclip(const std::vector<std::string>& texts,
                                   int64_t context_length = 77) const;

  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t vocab_size() const;

  // The BPE pieces (byte-level strings, "</w>" included) of one text, for debugging.
  std::vector<std::string> bpe_tokens(const std::string& text,
                                      Flavor flavor = Flavor::HuggingFace) const;
  // The cleaned, lower-cased text that the pre-tokenizer regex sees.
  static std::string clean_text(const std::string& text, Flavor flavor = Flavor::HuggingFace);

  struct Impl;

 private:
  explicit ClipTokenizer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace editclip
