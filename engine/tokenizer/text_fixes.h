// Text cleaning that CLIP tokenizers apply before BPE, reproduced from the Python reference
// behaviour: ftfy 6.3.1 `fix_text` with its default configuration (HF's slow CLIPTokenizer and
// open_clip both run it), Python's `html.unescape` (open_clip runs it twice more), and the
// Unicode predicates of Python's `str`/`re`/`regex` that the cleaning depends on.
//
// Strings are UTF-8 at the API; invalid UTF-8 input bytes are read as U+FFFD (a Python str
// cannot hold them, so there is no reference behaviour to follow).
#pragma once

#include <string>

namespace editclip {

// ftfy.fix_text(text) with ftfy 6.3.1 defaults: HTML entity unescaping (only while no line so far
// contained '<'), mojibake repair (UTF-8 read as Latin-1/Windows-125x/MacRoman/cp437, with
// ftfy's badness heuristic deciding when), C1 controls, Latin ligatures, full/half-width forms,
// curly quotes, line breaks, ANSI escapes, control characters, then NFC; repeated per line until
// nothing changes.
std::string fix_text(const std::string& utf8);

// The mojibake-repair part of fix_text alone (ftfy.fix_encoding).
std::string fix_encoding(const std::string& utf8);

// ftfy.badness.is_bad: whether the text contains a character sequence typical of mojibake.
bool looks_like_mojibake(const std::string& utf8);

// Python's html.unescape (HTML5 named references with and without ';', numeric references with
// the HTML5 replacements for invalid code points).
std::string html_unescape(const std::string& utf8);

namespace text {

std::u32string utf8_to_u32(const std::string& utf8);
std::string u32_to_utf8(const std::u32string& text);
void append_utf8(std::string& out, char32_t c);

// Python str.isspace() (also what str.split() and str.strip() use).
bool py_isspace(char32_t c);
// `\s` of the `regex` module (Unicode White_Space): str.isspace() minus U+001C..U+001F.
bool regex_isspace(char32_t c);
// Unicode general categories L* and N* (GLib's tables).
bool is_letter(char32_t c);
bool is_number(char32_t c);
// Python str.lower(): full lowercase mapping (U+0130 -> "i̇"), context-sensitive final sigma,
// locale independent.
std::u32string py_lower(const std::u32string& text);
// Unicode NFC.
std::u32string nfc(const std::u32string& text);

}  // namespace text
}  // namespace editclip
