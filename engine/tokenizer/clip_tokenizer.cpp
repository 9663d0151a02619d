#include "engine/tokenizer/clip_tokenizer.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "engine/core/error.h"
#include "engine/tokenizer/text_fixes.h"

namespace editclip {

namespace fs = std::filesystem;
using U32 = std::u32string;

namespace {

constexpr const char* kBosToken = "<|startoftext|>";
constexpr const char* kEosToken = "<|endoftext|>";
// open_clip's SimpleTokenizer names its specials differently; they map to the same ids.
constexpr const char32_t* kOpenClipBos = U"<start_of_text>";
constexpr const char32_t* kOpenClipEos = U"<end_of_text>";
constexpr const char32_t* kHfBos = U"<|startoftext|>";
constexpr const char32_t* kHfEos = U"<|endoftext|>";
constexpr size_t kMaxCacheEntries = 200000;

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error("tokenizer ", what, " ", path, ": cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw_error("tokenizer ", what, " ", path, ": read error");
  return ss.str();
}

nlohmann::json parse_json(const std::string& path, const char* what) {
  try {
    return nlohmann::json::parse(read_file(path, what));
  } catch (const nlohmann::json::exception& e) {
    throw_error("tokenizer ", what, " ", path, ": invalid JSON (", first_line(e.what()), ")");
  }
}

// GPT-2/CLIP byte-to-unicode table: printable Latin-1 bytes stand for themselves, the others
// (controls, space, 0x7F-0xA0, 0xAD) are moved to U+0100 onwards in byte order.
std::array<std::string, 256> make_byte_encoder() {
  std::array<std::string, 256> table;
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    std::string utf8;
    text::append_utf8(utf8, printable ? static_cast<char32_t>(b) : 256 + shifted++);
    table[b] = utf8;
  }
  return table;
}

// IGNORECASE comparison against the ASCII specials/contractions: the regex module folds 'ſ' to
// 's' and the Kelvin sign to 'k'; the text is already lower-cased otherwise.
char32_t fold(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c == 0x17F) return 's';
  if (c == 0x212A) return 'k';
  return c;
}

size_t match_folded(const U32& t, size_t i, const char32_t* lit) {
  size_t k = 0;
  for (; lit[k]; ++k)
    if (i + k >= t.size() || fold(t[i + k]) != lit[k]) return 0;
  return k;
}

// U+0345 folds to a letter, so the case-insensitive classes [\p{L}] and [^\s\p{L}\p{N}] both
// reject it and the regex skips it like whitespace.
bool regex_skips(char32_t c) {
  return text::regex_isspace(c) || c == 0x345;
}

}  // namespace

struct ClipTokenizer::Impl {
  std::string origin;
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::string> id_to_token;
  std::unordered_map<std::string, int32_t> ranks;  // "first second" -> merge priority
  std::array<std::string, 256> byte_encoder = make_byte_encoder();
  int64_t bos = 0, eos = 0;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::string>> cache;

  void finish() {
    int64_t max_id = -1;
    for (const auto& kv : vocab) max_id = std::max(max_id, kv.second);
    id_to_token.assign(static_cast<size_t>(max_id + 1), std::string());
    for (const auto& kv : vocab)
      if (kv.second >= 0) id_to_token[kv.second] = kv.first;
    auto special = [&](const char* token) {
      auto it = vocab.find(token);
      if (it == vocab.end())
        throw_error("tokenizer ", origin, ": the vocabulary has no \"", token,
                    "\" entry; is this a CLIP tokenizer?");
      return it->second;
    };
    bos = special(kBosToken);
    eos = special(kEosToken);
  }

  void add_merge(const std::string& first, const std::string& second, int32_t rank) {
    // Later duplicates win, as with Python's dict(zip(merges, range(...))).
    ranks[first + ' ' + second] = rank;
  }

  // BPE of one pre-token (raw UTF-8), cached.
  std::vector<std::string> bpe(const std::string& token) const {
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      auto it = cache.find(token);
      if (it != cache.end()) return it->second;
    }
    std::vector<std::string> word;
    word.reserve(token.size());
    for (unsigned char b : token) word.push_back(byte_encoder[b]);
    if (word.empty()) return word;
    word.back() += "</w>";
    std::string key;
    while (word.size() > 1) {
      int32_t best = INT32_MAX;
      size_t best_at = 0;
      for (size_t j = 0; j + 1 < word.size(); ++j) {
        key.assign(word[j]).append(1, ' ').append(word[j + 1]);
        auto it = ranks.find(key);
        if (it != ranks.end() && it->second < best) {
          best = it->second;
          best_at = j;
        }
      }
      if (best == INT32_MAX) break;
      const std::string first = word[best_at], second = word[best_at + 1];
      std::vector<std::string> merged;
      merged.reserve(word.size());
      for (size_t j = 0; j < word.size();) {
        if (j + 1 < word.size() && word[j] == first && word[j + 1] == second) {
          merged.push_back(first + second);
          j += 2;
        } else {
          merged.push_back(std::move(word[j]));
          ++j;
        }
      }
      word = std::move(merged);
    }
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (cache.size() >= kMaxCacheEntries) cache.clear();
    cache.emplace(token, word);
    return word;
  }

  int64_t id_of(const std::string& piece) const {
    auto it = vocab.find(piece);
    return it == vocab.end() ? eos : it->second;  // HF maps unknown pieces to unk = <|endoftext|>
  }

  // Pre-tokenizes cleaned text and appends ids (and pieces, when asked).
  void encode_clean(const U32& t, ClipTokenizer::Flavor flavor, std::vector<int64_t>* ids,
                    std::vector<std::string>* pieces) const {
    const bool hf = flavor == ClipTokenizer::Flavor::HuggingFace;
    const char32_t* specials[2] = {hf ? kHfBos : kOpenClipBos, hf ? kHfEos : kOpenClipEos};
    const int64_t special_ids[2] = {bos, eos};
    auto emit_id = [&](int64_t id, const std::string& piece) {
      ids->push_back(id);
      if (pieces) pieces->push_back(piece);
    };
    auto emit_bpe = [&](size_t begin, size_t end) {
      for (const auto& piece : bpe(text::u32_to_utf8(t.substr(begin, end - begin))))
        emit_id(id_of(piece), piece);
    };
    const size_t n = t.size();
    for (size_t i = 0; i < n;) {
      const char32_t c = t[i];
      size_t len = 0;
      int special = -1;
      for (int s = 0; s < 2 && !len; ++s) {
        len = match_folded(t, i, specials[s]);
        if (len) special = s;
      }
      if (!len && c == '\'') {
        for (const char32_t* suffix : {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"}) {
          len = match_folded(t, i, suffix);
          if (len) break;
        }
      }
      if (len) {
        // Only the exact special string hits the BPE cache entry that yields its id; a
        // case-folded variant is ordinary text.
        if (special >= 0 && t.compare(i, len, specials[special]) == 0) {
          emit_id(special_ids[special], text::u32_to_utf8(specials[special]));
        } else {
          emit_bpe(i, i + len);
        }
        i += len;
        continue;
      }
      if (text::is_letter(c)) {
        size_t j = i + 1;
        while (j < n && text::is_letter(t[j])) ++j;
        emit_bpe(i, j);
        i = j;
      } else if (text::is_number(c)) {
        emit_bpe(i, i + 1);
        ++i;
      } else if (!regex_skips(c)) {
        size_t j = i + 1;
        while (j < n && !regex_skips(t[j]) && !text::is_letter(t[j]) && !text::is_number(t[j])) ++j;
        emit_bpe(i, j);
        i = j;
      } else {
        ++i;
      }
    }
  }

  void encode(const std::string& text, ClipTokenizer::Flavor flavor, std::vector<int64_t>* ids,
              std::vector<std::string>* pieces) const {
    if (flavor == ClipTokenizer::Flavor::OpenClip) {
      encode_clean(text::utf8_to_u32(ClipTokenizer::clean_text(text, flavor)), flavor, ids, pieces);
      return;
    }
    // HF splits literal special tokens off the raw text before any cleaning.
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t best = std::string::npos;
      int which = -1;
      const char* tokens[2] = {kBosToken, kEosToken};
      for (int s = 0; s < 2; ++s) {
        size_t at = text.find(tokens[s], pos);
        if (at < best) {
          best = at;
          which = s;
        }
      }
      const size_t end = best == std::string::npos ? text.size() : best;
      if (end > pos)
        encode_clean(
            text::utf8_to_u32(ClipTokenizer::clean_text(text.substr(pos, end - pos), flavor)),
            flavor, ids, pieces);
      if (best == std::string::npos) break;
      ids->push_back(which == 0 ? bos : eos);
      if (pieces) pieces->push_back(tokens[which]);
      pos = best + std::strlen(tokens[which]);
    }
  }
};

std::string ClipTokenizer::clean_text(const std::string& input, Flavor flavor) {
  U32 t;
  if (flavor == Flavor::OpenClip) {
    // open_clip: basic_clean (ftfy, html.unescape twice, strip), " ".join(split()), lower()
    t = text::utf8_to_u32(html_unescape(html_unescape(fix_text(input))));
  } else {
    // HF: whitespace_clean (regex \s+ -> ' ', strip), lower()
    t = text::utf8_to_u32(fix_text(input));
  }
  auto is_ws = flavor == Flavor::OpenClip ? text::py_isspace : text::regex_isspace;
  U32 collapsed;
  collapsed.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    if (is_ws(t[i])) {
      while (i < t.size() && is_ws(t[i])) ++i;
      collapsed.push_back(' ');
    } else {
      collapsed.push_back(t[i++]);
    }
  }
  size_t b = 0, e = collapsed.size();
  while (b < e && text::py_isspace(collapsed[b])) ++b;
  while (e > b && text::py_isspace(collapsed[e - 1])) --e;
  return text::u32_to_utf8(text::py_lower(collapsed.substr(b, e - b)));
}

ClipTokenizer ClipTokenizer::from_vocab_merges(const std::string& vocab_json,
                                               const std::string& merges_txt) {
  auto impl = std::make_shared<Impl>();
  impl->origin = vocab_json;
  const nlohmann::json vocab = parse_json(vocab_json, "vocabulary");
  if (!vocab.is_object())
    throw_error("tokenizer vocabulary ", vocab_json, ": expected a JSON object");
  impl->vocab.reserve(vocab.size() * 2);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer())
      throw_error("tokenizer vocabulary ", vocab_json, ": the id of \"", it.key(),
                  "\" is not an integer");
    impl->vocab.emplace(it.key(), it.value().get<int64_t>());
  }

  const std::string merges = read_file(merges_txt, "merges");
  impl->ranks.reserve(60000);
  size_t pos = 0, line_no = 0;
  int32_t rank = 0;
  while (pos < merges.size()) {
    size_t end = merges.find('\n', pos);
    if (end == std::string::npos) end = merges.size();
    std::string line = merges.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1 && line.rfind("#version", 0) == 0) continue;
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
        line.find(' ', space + 1) != std::string::npos)
      throw_error("tokenizer merges ", merges_txt, ": line ", line_no,
                  " is not two space-separated symbols");
    impl->add_merge(line.substr(0, space), line.substr(space + 1), rank++);
  }
  if (rank == 0) throw_error("tokenizer merges ", merges_txt, ": no merges found");
  impl->finish();
  return ClipTokenizer(impl);
}

ClipTokenizer ClipTokenizer::from_tokenizer_json(const std::string& path) {
  auto impl = std::make_shared<Impl>();
  impl->origin = path;
  const nlohmann::json j = parse_json(path, "file");
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    throw_error("tokenizer file ", path, ": no \"model\" object (not a tokenizers JSON file?)");
  const auto& model = j["model"];
  if (model.contains("type") && model["type"] != "BPE")
    throw_error("tokenizer file ", path, ": model type is ", model["type"].dump(),
                ", expected \"BPE\"");
  if (!model.contains("vocab") || !model["vocab"].is_object())
    throw_error("tokenizer file ", path, ": model.vocab is missing or not an object");
  if (!model.contains("merges") || !model["merges"].is_array())
    throw_error("tokenizer file ", path, ": model.merges is missing or not an array");
  const auto& vocab = model["vocab"];
  impl->vocab.reserve(vocab.size() * 2);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer())
      throw_error("tokenizer file ", path, ": model.vocab id of \"", it.key(),
                  "\" is not an integer");
    impl->vocab.emplace(it.key(), it.value().get<int64_t>());
  }
  // Special tokens may live only in added_tokens.
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& t : j["added_tokens"]) {
      if (t.contains("content") && t["content"].is_string() && t.contains("id") &&
          t["id"].is_number_integer())
        impl->vocab.emplace(t["content"].get<std::string>(), t["id"].get<int64_t>());
    }
  }
  int32_t rank = 0;
  impl->ranks.reserve(model["merges"].size() * 2);
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 >= s.size())
        throw_error("tokenizer file ", path, ": merge ", rank, " (\"", s,
                    "\") is not two space-separated symbols");
      impl->add_merge(s.substr(0, space), s.substr(space + 1), rank++);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      impl->add_merge(m[0].get<std::string>(), m[1].get<std::string>(), rank++);
    } else {
      throw_error("tokenizer file ", path, ": merge ", rank, " is neither \"a b\" nor [a, b]");
    }
  }
  if (rank == 0) throw_error("tokenizer file ", path, ": model.merges is empty");
  impl->finish();
  return ClipTokenizer(impl);
}

ClipTokenizer ClipTokenizer::from_folder(const std::string& dir) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) throw_error("tokenizer folder ", dir, " does not exist");
  const fs::path vocab = root / "vocab.json", merges = root / "merges.txt",
                 json = root / "tokenizer.json";
  const bool has_vocab = fs::is_regular_file(vocab), has_merges = fs::is_regular_file(merges);
  if (has_vocab && has_merges) return from_vocab_merges(vocab.string(), merges.string());
  if (fs::is_regular_file(json)) return from_tokenizer_json(json.string());
  if (has_vocab || has_merges)
    throw_error("tokenizer folder ", dir, ": ", has_vocab ? "merges.txt" : "vocab.json",
                " is missing (and there is no tokenizer.json)");
  throw_error("tokenizer folder ", dir,
              ": no vocab.json + merges.txt or tokenizer.json; point to the CLIP model folder "
              "that holds the tokenizer files");
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text, Flavor flavor) const {
  std::vector<int64_t> ids;
  impl_->encode(text, flavor, &ids, nullptr);
  return ids;
}

std::vector<std::string> ClipTokenizer::bpe_tokens(const std::string& text, Flavor flavor) const {
  std::vector<int64_t> ids;
  std::vector<std::string> pieces;
  impl_->encode(text, flavor, &ids, &pieces);
  return pieces;
}

ClipTokenizer::Batch ClipTokenizer::encode_batch_with_mask(const std::vector<std::string>& texts,
                                                           int64_t context_length, int64_t pad_id,
                                                           Flavor flavor) const {
  if (context_length < 2)
    throw_error("tokenizer: context_length ", context_length, " leaves no room for BOS and EOS");
  if (pad_id < 0) pad_id = impl_->eos;
  const int64_t rows = static_cast<int64_t>(texts.size());
  Batch out;
  out.input_ids = at::full({rows, context_length}, pad_id, at::kLong);
  out.attention_mask = at::zeros({rows, context_length}, at::kLong);
  auto ids_acc = out.input_ids.accessor<int64_t, 2>();
  auto mask_acc = out.attention_mask.accessor<int64_t, 2>();
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int64_t> ids = encode(texts[r], flavor);
    const int64_t keep = std::min<int64_t>(static_cast<int64_t>(ids.size()), context_length - 2);
    ids_acc[r][0] = impl_->bos;
    for (int64_t k = 0; k < keep; ++k) ids_acc[r][k + 1] = ids[k];
    ids_acc[r][keep + 1] = impl_->eos;
    for (int64_t k = 0; k < keep + 2; ++k) mask_acc[r][k] = 1;
  }
  return out;
}

at::Tensor ClipTokenizer::encode_batch(const std::vector<std::string>& texts,
                                       int64_t context_length, int64_t pad_id) const {
  return encode_batch_with_mask(texts, context_length, pad_id, Flavor::HuggingFace).input_ids;
}

at::Tensor ClipTokenizer::encode_batch_openclip(const std::vector<std::string>& texts,
                                                int64_t context_length) const {
  return encode_batch_with_mask(texts, context_length, 0, Flavor::OpenClip).input_ids;
}

int64_t ClipTokenizer::bos_id() const {
  return impl_->bos;
}
int64_t ClipTokenizer::eos_id() const {
  return impl_->eos;
}
int64_t ClipTokenizer::vocab_size() const {
  return static_cast<int64_t>(impl_->id_to_token.size());
}

}  // namespace editclip
