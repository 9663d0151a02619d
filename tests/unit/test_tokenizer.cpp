#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/tokenizer/clip_tokenizer.h"
#include "engine/tokenizer/text_fixes.h"
#include "tests/test_support.h"

using namespace editclip;
namespace fs = std::filesystem;

namespace {

using editclip::test::error_of;
using editclip::test::TempDir;

const fs::path kClipDir = fs::path(EDITCLIP_TEST_FIXTURES) / "models" / "editclip_a" / "clip";

const ClipTokenizer& tokenizer() {
  static const ClipTokenizer tok = ClipTokenizer::from_folder(kClipDir.string());
  return tok;
}

using Ids = std::vector<int64_t>;

}  // namespace

// Ids as produced by HF's slow CLIPTokenizer / open_clip's SimpleTokenizer (rows of the
// 01_tokenizer case and the Python reference).
TEST(ClipTokenizer, KnownIds) {
  const auto& tok = tokenizer();
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.vocab_size(), 49408);
  EXPECT_EQ(tok.encode("make it winter"), (Ids{1078, 585, 2541}));
  EXPECT_EQ(tok.encode("don\u2019t \u201ccurly\u201d quotes"),
            (Ids{847, 713, 257, 20795, 257, 5808}));
  EXPECT_EQ(tok.encode("mojibake caf\u00c3\u00a9"), (Ids{617, 3252, 11878, 15304}));
  EXPECT_EQ(tok.encode("\u0130stanbul"), (Ids{328, 16384, 11231}));
  EXPECT_EQ(tok.encode("\uff26\uff35\uff2c\uff2c\uff37\uff29\uff24\uff34\uff28 text"),
            (Ids{9407, 23571, 4160}));
  EXPECT_TRUE(tok.encode("").empty());
  EXPECT_TRUE(tok.encode(" \t\n ").empty());
}

TEST(ClipTokenizer, OpenClipFlavor) {
  const auto& tok = tokenizer();
  // ftfy leaves "&amp;" alone next to tags; open_clip's extra html.unescape does not.
  const std::string html = "<b>bold</b> &amp; html";
  EXPECT_EQ(tok.encode(html), (Ids{283, 321, 285, 8911, 34308, 321, 285, 261, 6259, 282, 18231}));
  EXPECT_EQ(tok.encode(html, ClipTokenizer::Flavor::OpenClip),
            (Ids{283, 321, 285, 8911, 34308, 321, 285, 261, 18231}));
  // HF splits its literal special tokens off first; open_clip only knows "<end_of_text>".
  const std::string special = "a photo of a cat<|endoftext|>dog";
  EXPECT_EQ(tok.encode(special), (Ids{320, 1125, 539, 320, 2368, 49407, 1929}));
  EXPECT_EQ(tok.encode(special, ClipTokenizer::Flavor::OpenClip),
            (Ids{320, 1125, 539, 320, 2368, 27, 347, 40786, 4160, 91, 285, 1929}));
  EXPECT_EQ(tok.encode("<end_of_text>", ClipTokenizer::Flavor::OpenClip), (Ids{49407}));
}

TEST(ClipTokenizer, BpeTokens) {
  const auto& tok = tokenizer();
  EXPECT_EQ(tok.bpe_tokens("CamelCaseWords"),
            (std::vector<std::string>{"camel", "case", "words</w>"}));
  EXPECT_EQ(tok.bpe_tokens("it's 50%"),
            (std::vector<std::string>{"it</w>", "'s</w>", "5</w>", "0</w>", "%</w>"}));
  EXPECT_EQ(ClipTokenizer::clean_text("  Caf\u00c3\u00a9\t AND\u00a0\u00a0ﬁne "),
            "caf\u00e9 and fine");
}

TEST(ClipTokenizer, BatchPaddingTruncationAndMask) {
  const auto& tok = tokenizer();
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "snow ";
  const std::vector<std::string> texts = {"make it winter", long_text, ""};
  const auto batch = tok.encode_batch_with_mask(texts);
  ASSERT_EQ(batch.input_ids.sizes(), (at::IntArrayRef{3, 77}));
  ASSERT_EQ(batch.input_ids.scalar_type(), at::kLong);
  auto ids = batch.input_ids.accessor<int64_t, 2>();
  auto mask = batch.attention_mask.accessor<int64_t, 2>();
  EXPECT_EQ(ids[0][0], 49406);
  EXPECT_EQ(ids[0][1], 1078);
  EXPECT_EQ(ids[0][4], 49407);
  EXPECT_EQ(ids[0][5], 49407);  // HF pads with the EOS/pad token
  EXPECT_EQ(mask[0][4], 1);
  EXPECT_EQ(mask[0][5], 0);
  EXPECT_EQ(ids[1][75], 2583);  // "snow</w>"
  EXPECT_EQ(ids[1][76], 49407);
  EXPECT_EQ(batch.attention_mask[1].sum().item<int64_t>(), 77);
  EXPECT_EQ(ids[2][0], 49406);
  EXPECT_EQ(ids[2][1], 49407);
  EXPECT_EQ(batch.attention_mask[2].sum().item<int64_t>(), 2);

  const at::Tensor oc = tok.encode_batch_openclip(texts);
  EXPECT_EQ(oc[0][5].item<int64_t>(), 0);
  EXPECT_TRUE(oc[1].equal(batch.input_ids[1]));
  const at::Tensor short_ctx = tok.encode_batch(texts, 16, 7);
  EXPECT_TRUE(
      short_ctx.slice(0, 0, 2).slice(1, 0, 5).equal(batch.input_ids.slice(0, 0, 2).slice(1, 0, 5)));
  EXPECT_EQ(short_ctx[1][15].item<int64_t>(), 49407);
  EXPECT_EQ(tok.encode_batch(texts, 16, 7)[0][15].item<int64_t>(), 7);
  EXPECT_THROW(tok.encode_batch(texts, 1), Error);
}

TEST(ClipTokenizer, TokenizerJsonMatchesVocabAndMerges) {
  const auto& tok = tokenizer();
  const auto from_json = ClipTokenizer::from_tokenizer_json((kClipDir / "tokenizer.json").string());
  const std::vector<std::string> texts = {"make it look like van gogh's painting", "naïve café",
                                          "🎉🎉🎉 add 3 cats!!!", "ελληνικό τοπίο", "rock &amp; roll"};
  EXPECT_TRUE(from_json.encode_batch(texts).equal(tok.encode_batch(texts)));
  EXPECT_EQ(from_json.bos_id(), tok.bos_id());
  EXPECT_EQ(from_json.eos_id(), tok.eos_id());

  // A folder with only tokenizer.json uses it.
  TempDir dir;
  fs::copy_file(kClipDir / "tokenizer.json", dir.path / "tokenizer.json");
  const auto from_folder = ClipTokenizer::from_folder(dir.path.string());
  EXPECT_TRUE(from_folder.encode_batch(texts).equal(tok.encode_batch(texts)));
}

TEST(ClipTokenizer, MissingOrBrokenFilesGiveClearErrors) {
  TempDir dir;
  std::string msg = error_of([&] { ClipTokenizer::from_folder((dir.path / "nope").string()); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;

  msg = error_of([&] { ClipTokenizer::from_folder(dir.path.string()); });
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;

  fs::copy_file(kClipDir / "vocab.json", dir.path / "vocab.json");
  msg = error_of([&] { ClipTokenizer::from_folder(dir.path.string()); });
  EXPECT_NE(msg.find("merges.txt is missing"), std::string::npos) << msg;

  std::ofstream(dir.path / "merges.txt") << "#version: 0.2\ni n\nthis is bad\n";
  msg = error_of([&] { ClipTokenizer::from_folder(dir.path.string()); });
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;

  std::ofstream(dir.path / "vocab.json") << "{\"a\": 1,";
  std::ofstream(dir.path / "merges.txt") << "#version: 0.2\ni n\n";
  msg = error_of([&] { ClipTokenizer::from_folder(dir.path.string()); });
  EXPECT_NE(msg.find("invalid JSON"), std::string::npos) << msg;

  std::ofstream(dir.path / "vocab.json") << "{\"a\": 1}";
  msg = error_of([&] { ClipTokenizer::from_folder(dir.path.string()); });
  EXPECT_NE(msg.find("<|startoftext|>"), std::string::npos) << msg;

  std::ofstream(dir.path / "t.json") << "{\"model\": {\"vocab\": {}}}";
  msg = error_of([&] { ClipTokenizer::from_tokenizer_json((dir.path / "t.json").string()); });
  EXPECT_NE(msg.find("model.merges"), std::string::npos) << msg;
}

TEST(ClipTokenizer, LoadsQuickly) {
  const auto start = std::chrono::steady_clock::now();
  const auto tok = ClipTokenizer::from_folder(kClipDir.string());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(tok.vocab_size(), 49408);
  EXPECT_LT(seconds, 1.0);  // typically well under 0.2 s in release builds
}

// ftfy 6.3.1 behaviour (examples from its documentation and the tokenizer case).
TEST(TextFixes, FixText) {
  EXPECT_EQ(fix_text("mojibake caf\u00c3\u00a9"), "mojibake caf\u00e9");
  EXPECT_EQ(fix_text("\u00e2\u0153\u201d No problems"), "\u2714 No problems");
  EXPECT_EQ(fix_text("&lt;3 hearts"), "<3 hearts");
  EXPECT_EQ(fix_text("double &amp;lt; escaped"), "double < escaped");
  EXPECT_EQ(fix_text("<b>bold</b> &amp; html"), "<b>bold</b> &amp; html");
  EXPECT_EQ(fix_text("P&EACUTE;REZ"), "P\u00c9REZ");
  EXPECT_EQ(fix_text("this&not that"), "this&not that");
  EXPECT_EQ(fix_text("Broken text&hellip; it&#x2019;s \ufb02ubberi\ufb01c!"),
            "Broken text\u2026 it's flubberific!");  // (ftfy's docstring says "...")
  EXPECT_EQ(fix_text("\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33"),
            "LOUD NOISES");
  EXPECT_EQ(fix_text("multi\r\nline\u2028text\u0085"), "multi\nline\ntext\u2026");  // C1 as cp1252
  EXPECT_EQ(fix_text("\x1b[36;44mblue\x1b[0m\x01\ufeff"), "blue");
  EXPECT_EQ(fix_text("cafe\u0301"), "caf\u00e9");
  EXPECT_EQ(fix_text("na\u00efve caf\u00e9 \u65e5\u672c"), "na\u00efve caf\u00e9 \u65e5\u672c");
  EXPECT_EQ(fix_text("voil\u00c3 le travail"), "voil\u00e0 le travail");
}

TEST(TextFixes, MojibakeHeuristicAndHtml) {
  EXPECT_TRUE(looks_like_mojibake("caf\u00c3\u00a9"));
  EXPECT_FALSE(looks_like_mojibake("caf\u00e9"));
  EXPECT_FALSE(looks_like_mojibake("\u00bfQu\u00e9 pasa?"));
  EXPECT_EQ(fix_encoding("\u00c3\u00b3"), "\u00f3");
  EXPECT_EQ(html_unescape("&amp &amp; &lt;3 &#39; &#x41; &notit; &eacute"),
            "& & <3 ' A \u00acit; \u00e9");
  EXPECT_EQ(html_unescape("&#0; &#x85; &#1;|"), "\ufffd \u2026 |");
}

TEST(TextFixes, PythonLower) {
  auto lower = [](const std::string& s) {
    return text::u32_to_utf8(text::py_lower(text::utf8_to_u32(s)));
  };
  EXPECT_EQ(lower("\u0130I"), "i\u0307i");
  EXPECT_EQ(lower("\u039f\u0394\u039f\u03a3 \u03a3"), "\u03bf\u03b4\u03bf\u03c2 \u03c3");
  EXPECT_EQ(lower("\u2160\u24b6"), "\u2170\u24d0");
}
