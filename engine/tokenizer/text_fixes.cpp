// ftfy 6.3.1 fix_text and Python's html.unescape, written from their documented behaviour and
// checked against them character by character (see tests/unit/test_tokenizer.cpp). Work happens on
// UTF-32 strings because every rule is stated on Python code points.
#include "engine/tokenizer/text_fixes.h"

#include <glib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/ftfy_tables.h"

namespace editclip {

using U32 = std::u32string;

// ------------------------------------------------------------------------------------------------
// UTF-8 and Unicode predicates
// ------------------------------------------------------------------------------------------------
namespace text {

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string u32_to_utf8(const U32& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

namespace {

// Length of the well-formed UTF-8 sequence at bytes[i] (Unicode table 3-7, which is also what
// Python's strict decoder accepts), or 0 when it is not well formed.
size_t utf8_sequence(const unsigned char* b, size_t n, size_t i, char32_t* cp) {
  const unsigned char c = b[i];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  auto cont = [&](size_t k) { return i + k < n && (b[i + k] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) {
    if (!cont(1)) return 0;
    *cp = ((c & 0x1F) << 6) | (b[i + 1] & 0x3F);
    return 2;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    const unsigned char c1 = b[i + 1];
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) return 0;
    *cp = ((c & 0x0F) << 12) | ((c1 & 0x3F) << 6) | (b[i + 2] & 0x3F);
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const unsigned char c1 = b[i + 1];
    if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90)) return 0;
    *cp = ((c & 0x07) << 18) | ((c1 & 0x3F) << 12) | ((b[i + 2] & 0x3F) << 6) | (b[i + 3] & 0x3F);
    return 4;
  }
  return 0;
}

}  // namespace

U32 utf8_to_u32(const std::string& utf8) {
  U32 out;
  out.reserve(utf8.size());
  const auto* b = reinterpret_cast<const unsigned char*>(utf8.data());
  const size_t n = utf8.size();
  for (size_t i = 0; i < n;) {
    char32_t cp = 0;
    size_t len = utf8_sequence(b, n, i, &cp);
    if (len == 0) {
      out.push_back(0xFFFD);
      ++i;
    } else {
      out.push_back(cp);
      i += len;
    }
  }
  return out;
}

bool py_isspace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return c == 0x85 || g_unichar_isspace(c);
}

bool regex_isspace(char32_t c) {
  return py_isspace(c) && !(c >= 0x1C && c <= 0x1F);
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  switch (g_unichar_type(c)) {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
      return true;
    default:
      return false;
  }
}

bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  switch (g_unichar_type(c)) {
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
      return true;
    default:
      return false;
  }
}

namespace {

// Unicode "Cased": letters with case plus Other_Lowercase/Other_Uppercase (GLib has no such
// property; the ranges below are those of Unicode 14/15).
bool is_cased(char32_t c) {
  switch (g_unichar_type(c)) {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
      return true;
    default:
      break;
  }
  if (g_unichar_tolower(c) != c || g_unichar_toupper(c) != c) return true;
  static const std::array<std::pair<char32_t, char32_t>, 25> kOther = {{
      {0xAA, 0xAA},       {0xBA, 0xBA},       {0x2B0, 0x2B8},     {0x2C0, 0x2C1},
      {0x2E0, 0x2E4},     {0x345, 0x345},     {0x37A, 0x37A},     {0x1D2C, 0x1D6A},
      {0x1D78, 0x1D78},   {0x1D9B, 0x1DBF},   {0x2071, 0x2071},   {0x207F, 0x207F},
      {0x2090, 0x209C},   {0x2160, 0x217F},   {0x24B6, 0x24E9},   {0x2C7C, 0x2C7D},
      {0xA69C, 0xA69D},   {0xA770, 0xA770},   {0xA7F8, 0xA7F9},   {0xAB5C, 0xAB5F},
      {0x10780, 0x107BA}, {0x1E030, 0x1E06D}, {0x1F130, 0x1F149}, {0x1F150, 0x1F169},
      {0x1F170, 0x1F189},
  }};
  for (const auto& r : kOther)
    if (c >= r.first && c <= r.second) return true;
  return false;
}

// Unicode "Case_Ignorable": Mn, Me, Cf, Lm, Sk and the MidLetter/MidNumLet/Single_Quote marks.
bool is_case_ignorable(char32_t c) {
  switch (g_unichar_type(c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return true;
    default:
      break;
  }
  switch (c) {
    case '\'':
    case '.':
    case ':':
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
      return true;
    default:
      return false;
  }
}

// Python's rule for U+03A3: final form when preceded by a cased letter and not followed by one,
// skipping case-ignorable characters both ways.
bool is_final_sigma(const U32& text, size_t i) {
  size_t j = i;
  char32_t c = 0;
  bool found = false;
  while (j > 0) {
    c = text[--j];
    if (!is_case_ignorable(c)) {
      found = true;
      break;
    }
  }
  if (!found || !is_cased(c)) return false;
  for (size_t k = i + 1; k < text.size(); ++k) {
    if (!is_case_ignorable(text[k])) return !is_cased(text[k]);
  }
  return true;
}

}  // namespace

U32 py_lower(const U32& text) {
  U32 out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    } else if (c == 0x130) {  // the one unconditional multi-character lowercase mapping
      out.push_back('i');
      out.push_back(0x307);
    } else if (c == 0x3A3) {
      out.push_back(is_final_sigma(text, i) ? 0x3C2 : 0x3C3);
    } else if (c >= 0x2160 && c <= 0x216F) {
      // Roman numerals and circled capitals: GLib lower-cases letters only, Python every
      // character with a lowercase mapping.
      out.push_back(c + 0x10);
    } else if (c >= 0x24B6 && c <= 0x24CF) {
      out.push_back(c + 0x1A);
    } else {
      out.push_back(g_unichar_tolower(c));
    }
  }
  return out;
}

U32 nfc(const U32& text) {
  bool ascii = true;
  for (char32_t c : text) ascii = ascii && c < 0x80;
  if (ascii) return text;
  // GLib stops at NUL, so normalize the pieces between NULs.
  U32 out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(U'\0', start);
    if (end == U32::npos) end = text.size();
    std::string piece = u32_to_utf8(text.substr(start, end - start));
    gchar* normalized = g_utf8_normalize(piece.data(), static_cast<gssize>(piece.size()),
                                         G_NORMALIZE_DEFAULT_COMPOSE);
    if (normalized) {
      out += utf8_to_u32(normalized);
      g_free(normalized);
    } else {
      out += utf8_to_u32(piece);
    }
    if (end == text.size()) break;
    out.push_back(0);
    start = end + 1;
  }
  return out;
}

}  // namespace text

namespace {

using text::py_isspace;
using namespace ftfy_tables;

constexpr char32_t kNone = 0x110000;  // past-the-end sentinel, in no class

// ------------------------------------------------------------------------------------------------
// Character classes and code pages
// ------------------------------------------------------------------------------------------------
uint32_t cat(char32_t c) {
  const CharClassEntry* begin = kCharClasses;
  const CharClassEntry* end = kCharClasses + kNumCharClasses;
  const CharClassEntry* it =
      std::lower_bound(begin, end, c, [](const CharClassEntry& e, char32_t v) { return e.cp < v; });
  return (it != end && it->cp == c) ? it->mask : 0;
}

bool in(char32_t c, const char32_t* set) {
  for (; *set; ++set)
    if (*set == c) return true;
  return false;
}

bool ascii_letter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool ascii_lower(char32_t c) {
  return c >= 'a' && c <= 'z';
}
// Python re's \w on str: alphanumerics in the Unicode sense, and '_'.
bool py_isword(char32_t c) {
  return c == '_' || text::is_letter(c) || text::is_number(c);
}

// Encoder side of one code page: which characters it can encode, and to which byte.
struct Encoder {
  std::unordered_map<char32_t, unsigned char> bytes;  // non-ASCII (and U+001A's stand-in)
  const char* name;
  bool sloppy;
};

const std::vector<Encoder>& encoders() {
  static const std::vector<Encoder> table = [] {
    std::vector<Encoder> out(kNumCodePages);
    for (int p = 0; p < kNumCodePages; ++p) {
      out[p].name = kCodePages[p].name;
      out[p].sloppy = std::string(kCodePages[p].name).rfind("sloppy", 0) == 0;
      for (int b = 0x80; b < 0x100; ++b) out[p].bytes.emplace(kCodePages[p].decode[b], b);
      out[p].bytes.emplace(kCodePages[p].decode[0x1A], 0x1A);
    }
    return out;
  }();
  return table;
}

// text.encode(code page), if every character is encodable (ftfy's possible_encoding).
bool encode_codepage(const U32& text, const Encoder& enc, std::string* out) {
  out->clear();
  out->reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80 && c != 0x1A) {
      out->push_back(static_cast<char>(c));
      continue;
    }
    auto it = enc.bytes.find(c);
    if (it == enc.bytes.end()) return false;
    out->push_back(static_cast<char>(it->second));
  }
  return true;
}

bool is_ascii(const U32& text) {
  for (char32_t c : text)
    if (c >= 0x80) return false;
  return true;
}

// ------------------------------------------------------------------------------------------------
// ftfy.badness.is_bad: search for any of the mojibake patterns
// ------------------------------------------------------------------------------------------------
bool is_bad(const U32& t) {
  const size_t n = t.size();
  std::vector<uint32_t> k(n + 8, 0);
  for (size_t i = 0; i < n; ++i) k[i] = cat(t[i]);
  auto ch = [&](size_t i) -> char32_t { return i < n ? t[i] : kNone; };

  const uint32_t LA = kLowerAccented, UA = kUpperAccented, BOX = kBox, SP = kStartPunct,
                 EP = kEndPunct, CUR = kCurrency, NUM = kNumeric, LAW = kLaw, BAD = kBad,
                 LC = kLowerCommon, UC = kUpperCommon, C1 = kC1, KAO = kKaomoji, COM = kCommon;

  for (size_t i = 0; i < n; ++i) {
    const uint32_t k0 = k[i], k1 = k[i + 1], k2 = k[i + 2];
    const char32_t c0 = t[i], c1 = ch(i + 1), c2 = ch(i + 2);
    if (k0 & C1) return true;
    if ((k0 & (BAD | LA | UA | BOX | SP | EP | CUR | NUM | LAW)) && (k1 & BAD)) return true;
    if (ascii_letter(c0) && (k1 & (LC | UC)) && (k2 & BAD)) return true;
    if ((k0 & BAD) && (k1 & (LA | UA | BOX | SP | EP | CUR | NUM | LAW))) return true;
    if ((k0 & (LA | LC | BOX | EP | CUR | NUM)) && (k1 & UA)) return true;
    if ((k0 & (BOX | EP | CUR | NUM)) && (k1 & LA)) return true;
    if ((k0 & (LA | BOX | EP)) && (k1 & CUR)) return true;
    if (py_isspace(c0) && (k1 & UA) && (k2 & CUR)) return true;
    if ((k0 & (UA | BOX)) && (k1 & (NUM | LAW))) return true;
    if ((k0 & (LA | UA | BOX | CUR | EP)) && (k1 & SP) && (k2 & NUM)) return true;
    if ((k0 & (LA | UA | CUR | NUM | BOX | LAW)) && (k1 & EP) && (k2 & SP)) return true;
    if ((k0 & (CUR | NUM | BOX)) && (k1 & SP)) return true;
    if (ascii_lower(c0) && (k1 & UA) && (k2 & (SP | CUR))) return true;
    if ((k0 & BOX) && (k1 & KAO)) return true;
    if ((k0 & (LA | UA | CUR | NUM | SP | EP | LAW)) && (k1 & BOX)) return true;
    if ((k0 & BOX) && (k1 & EP)) return true;
    if ((k0 & (LA | UA)) && (k1 & (SP | EP)) && c2 != kNone && py_isword(c2)) return true;
    // the ligature oe not followed by an unaccented Latin letter
    if ((c0 == 0x152 || c0 == 0x153) && c1 != kNone && !ascii_letter(c1)) return true;
    // degree sign after a capital letter
    if ((k0 & UA) && c1 == 0xB0) return true;
    // common Windows-1252 two-character mojibake
    if (in(c0, U"\u00C2\u00C3\u00CE\u00D0") &&
        (in(c1,
            U"\u20AC\u0153\u0160\u0161\u00A2\u00A3\u0178\u017E\u00A0\u00AD\u00AE\u00A9\u00B0"
            U"\u00B7\u00BB\u2013\u2014\u00B4") ||
         (k1 & (SP | EP))))
      return true;
    if (c0 == 0xD7 && (c1 == 0xB2 || c1 == 0xB3)) return true;
    // Windows-1252 mojibake of Arabic: four characters
    if (in(c0, U"\u00D8\u00D9") && in(c2, U"\u00D8\u00D9")) {
      auto arabic_tail = [&](size_t j) {
        return (k[j] & (COM | CUR | BAD | NUM | SP)) ||
               in(ch(j), U"\u0178\u0160\u00AE\u00B0\u00B5\u00BB");
      };
      if (arabic_tail(i + 1) && arabic_tail(i + 3)) return true;
    }
    // Windows-1252 start of South Asian three-byte sequences
    if (c0 == 0xE0 && in(c1, U"\u00B2\u00B5\u00B9\u00BC\u00BD\u00BE")) return true;
    // MacRoman mojibake
    if (c0 == 0x221A &&
        in(c1, U"\u00B1\u2202\u2020\u2260\u00AE\u2122\u00B4\u2264\u2265\u00A5\u00B5\u00F8"))
      return true;
    if (c0 == 0x2248 && (c1 == 0xB0 || c1 == 0xA2)) return true;
    if (c0 == 0x201A && c1 == 0xC4 &&
        in(c2, U"\u00EC\u00EE\u00EF\u00F2\u00F4\u00FA\u00F9\u00FB\u2020\u00B0\u00A2\u03C0"))
      return true;
    if (c0 == 0x201A && in(c1, U"\u00E2\u00F3") && in(c2, U"\u00E0\u00E4\u00B0\u00EA")) return true;
    // Windows-1251 mojibake
    if (c0 == 0x432 && c1 == 0x402) return true;
    if (in(c0, U"\u0412\u0413\u0420\u0421") &&
        ((k1 & (C1 | BAD | SP | EP | CUR)) || c1 == 0xB0 || c1 == 0xB5) &&
        in(c2, U"\u0412\u0413\u0420\u0421"))
      return true;
    if (c0 == 0x413 && c1 == 0x45E && c2 == 0x412 && ch(i + 3) == 0x402 && ch(i + 4) == 0x412 &&
        ch(i + 5) != kNone && ch(i + 5) != '\n' && (ascii_letter(ch(i + 6)) || ch(i + 6) == ' '))
      return true;
    // Windows-1252 encodings of a-grave, a-acute and U+00A0
    if (c0 == 0xC3 && (c1 == 0xA0 || c1 == 0xA1)) return true;
    if (ascii_lower(c0)) {
      if (c1 != kNone && py_isspace(c1) && (c2 == 0xC3 || c2 == 0xC2) && ch(i + 3) == ' ')
        return true;
      if ((c1 == 0xC3 || c1 == 0xC2) && c2 == ' ') return true;
    }
    if (i == 0 && (c0 == 0xC3 || c0 == 0xC2) && c1 == ' ') return true;
    // A-circumflex standing for itself before common punctuation
    if ((ascii_lower(c0) || in(c0, U".,?!") || (k0 & EP)) && c1 == 0xC2 &&
        (c2 == ' ' || (k2 & (SP | EP))))
      return true;
    // Windows-1253 mojibake
    if (c0 == 0x3B2 && c1 == 0x20AC && in(c2, U"\u2122\u00A0\u0386\u00AD\u00AE\u00B0")) return true;
    if (in(c0, U"\u0392\u0393\u039E\u039F") && ((k1 & (C1 | BAD | SP | EP | CUR)) || c1 == 0xB0) &&
        in(c2, U"\u0392\u0393\u039E\u039F"))
      return true;
    // Windows-1257 mojibake
    if (c0 == 0x101 && c1 == 0x20AC) return true;
  }
  return false;
}

// ------------------------------------------------------------------------------------------------
// Byte-level helpers of fix_encoding
// ------------------------------------------------------------------------------------------------
using Bytes = std::string;

inline unsigned char byte_at(const Bytes& b, size_t i) {
  return i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
}
inline bool in_range(unsigned char v, unsigned lo, unsigned hi) {
  return v >= lo && v <= hi;
}

// Continuation bytes that survive a Latin-1 round trip in ftfy's ALTERED_UTF8 patterns.
inline bool altered_cont(unsigned char v) {
  return in_range(v, 0x80, 0x84) || in_range(v, 0x86, 0x9F) || in_range(v, 0xA1, 0xBF);
}

// Length of an ALTERED_UTF8_RE match at i (UTF-8 whose byte A0 became a space), else 0.
size_t altered_utf8_at(const Bytes& b, size_t i) {
  const size_t n = b.size();
  const unsigned char c0 = byte_at(b, i), c1 = byte_at(b, i + 1), c2 = byte_at(b, i + 2),
                      c3 = byte_at(b, i + 3);
  auto cont = [](unsigned char v) { return in_range(v, 0x80, 0xBF); };
  if (i + 1 < n &&
      (c0 == 0xC2 || c0 == 0xC3 || c0 == 0xC5 || c0 == 0xCE || c0 == 0xD0 || c0 == 0xD9) &&
      c1 == 0x20)
    return 2;
  if (i + 2 < n && (c0 == 0xE2 || c0 == 0xE3) && c1 == 0x20 && altered_cont(c2)) return 3;
  if (i + 2 < n && in_range(c0, 0xE0, 0xE3) && altered_cont(c1) && c2 == 0x20) return 3;
  if (i + 3 < n && c0 == 0xF0) {
    if (c1 == 0x20 && cont(c2) && cont(c3)) return 4;
    if (cont(c1) && c2 == 0x20 && cont(c3)) return 4;
    if (cont(c1) && cont(c2) && c3 == 0x20) return 4;
  }
  return 0;
}

bool altered_utf8_search(const Bytes& b) {
  for (size_t i = 0; i < b.size(); ++i)
    if (altered_utf8_at(b, i)) return true;
  return false;
}

// ftfy.fixes.restore_byte_a0.
Bytes restore_byte_a0(const Bytes& in) {
  // "\xc3 " not followed by " ", "quele", "quela", "quilo" or "s " is a-grave before a space.
  Bytes b;
  b.reserve(in.size() + 8);
  for (size_t i = 0; i < in.size(); ++i) {
    if (byte_at(in, i) == 0xC3 && byte_at(in, i + 1) == 0x20 && i + 1 < in.size()) {
      auto ahead = [&](const char* s) { return in.compare(i + 2, std::strlen(s), s) == 0; };
      if (!(ahead(" ") || ahead("quele") || ahead("quela") || ahead("quilo") || ahead("s "))) {
        b += "\xC3\xA0 ";
        ++i;
        continue;
      }
    }
    b.push_back(in[i]);
  }
  Bytes out;
  out.reserve(b.size());
  for (size_t i = 0; i < b.size();) {
    size_t len = altered_utf8_at(b, i);
    if (len == 0) {
      out.push_back(b[i++]);
      continue;
    }
    for (size_t j = 0; j < len; ++j) out.push_back(b[i + j] == 0x20 ? '\xA0' : b[i + j]);
    i += len;
  }
  return out;
}

// ftfy.fixes.replace_lossy_sequences: UTF-8 sequences with bytes lost to 0x1A or '?' become
// U+FFFD.
Bytes replace_lossy_sequences(const Bytes& b) {
  const size_t n = b.size();
  auto lost = [](unsigned char v) { return v == 0x1A || v == '?'; };
  auto cont_or_sub = [](unsigned char v) { return v == 0x1A || in_range(v, 0x80, 0xBF); };
  auto any_of3 = [&](unsigned char v) { return lost(v) || in_range(v, 0x80, 0xBF); };
  auto match_at = [&](size_t i) -> size_t {
    const unsigned char c0 = byte_at(b, i), c1 = byte_at(b, i + 1), c2 = byte_at(b, i + 2),
                        c3 = byte_at(b, i + 3), c4 = byte_at(b, i + 4), c5 = byte_at(b, i + 5);
    if (i + 1 < n && in_range(c0, 0xC2, 0xDF) && c1 == 0x1A) return 2;
    if (i + 1 < n && in_range(c0, 0xC2, 0xC3) && c1 == '?') return 2;
    if (i + 5 < n && c0 == 0xED && in_range(c1, 0xA0, 0xAF) && c3 == 0xED &&
        in_range(c4, 0xB0, 0xBF)) {
      if (lost(c2) && any_of3(c5)) return 6;
      if (any_of3(c2) && lost(c5)) return 6;
    }
    if (i + 2 < n && in_range(c0, 0xE0, 0xEF)) {
      if (lost(c1) && cont_or_sub(c2)) return 3;
      if (cont_or_sub(c1) && lost(c2)) return 3;
    }
    if (i + 3 < n && in_range(c0, 0xF0, 0xF4)) {
      if (lost(c1) && cont_or_sub(c2) && cont_or_sub(c3)) return 4;
      if (cont_or_sub(c1) && lost(c2) && cont_or_sub(c3)) return 4;
      if (cont_or_sub(c1) && cont_or_sub(c2) && lost(c3)) return 4;
    }
    if (c0 == 0x1A && i < n) return 1;
    return 0;
  };
  Bytes out;
  out.reserve(n);
  for (size_t i = 0; i < n;) {
    size_t len = match_at(i);
    if (len == 0) {
      out.push_back(b[i++]);
    } else {
      out += "\xEF\xBF\xBD";
      i += len;
    }
  }
  return out;
}

// Python's strict UTF-8 decoder; with `variants`, ftfy's "utf-8-variants" codec, which also
// accepts CESU-8 surrogate pairs and Java's C0 80 for U+0000. False on any error.
bool decode_utf8(const Bytes& bytes, bool variants, U32* out) {
  out->clear();
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  // The codec locates its special sequences with a regex whose '$' also matches before a final
  // newline; those quirks are reproduced.
  auto at_end = [&](size_t j) { return j == n || (j == n - 1 && b[j] == '\n'); };
  for (size_t i = 0; i < n;) {
    if (variants && b[i] == 0xC0 && i + 1 < n && (b[i + 1] == 0x80 || at_end(i + 1))) {
      out->push_back(0);
      i += 2;
      continue;
    }
    if (variants && b[i] == 0xED && i + 5 < n && in_range(b[i + 1], 0xA0, 0xAF) &&
        in_range(b[i + 2], 0x80, 0xBF) && b[i + 3] == 0xED && in_range(b[i + 4], 0xB0, 0xBF) &&
        (in_range(b[i + 5], 0x80, 0xBF) || at_end(i + 5))) {
      char32_t cp = ((b[i + 1] & 0x0F) << 16) + ((b[i + 2] & 0x3F) << 10) +
                    ((b[i + 4] & 0x0F) << 6) + (b[i + 5] & 0x3F) + 0x10000;
      out->push_back(cp);
      i += 6;
      continue;
    }
    char32_t cp = 0;
    size_t len = text::utf8_sequence(b, n, i, &cp);
    if (len == 0) return false;
    out->push_back(cp);
    i += len;
  }
  return true;
}

int codepage_index(const char* name) {
  for (int p = 0; p < kNumCodePages; ++p)
    if (std::strcmp(kCodePages[p].name, name) == 0) return p;
  return -1;
}

U32 fix_encoding_u32(const U32& text);

// Length of a UTF8_DETECTOR_RE match at i: runs of characters that look like the Latin-1 /
// Windows-125x reading of UTF-8 sequences, not preceded by a continuation-like character.
size_t utf8_detector_at(const U32& t, size_t i) {
  const size_t n = t.size();
  if (i > 0 && (cat(t[i - 1]) & kUtf8ContStrict)) return 0;
  auto cont = [&](size_t j) { return j < n && (cat(t[j]) & kUtf8Cont); };
  size_t j = i;
  while (j < n) {
    const uint32_t m = cat(t[j]);
    if ((m & kUtf8First2) && cont(j + 1)) {
      j += 2;
    } else if ((m & kUtf8First3) && cont(j + 1) && cont(j + 2)) {
      j += 3;
    } else if ((m & kUtf8First4) && cont(j + 1) && cont(j + 2) && cont(j + 3)) {
      j += 4;
    } else {
      break;
    }
  }
  return j - i;
}

// ftfy.fixes.decode_inconsistent_utf8: fixes mojibake runs embedded in otherwise fine text.
U32 decode_inconsistent_utf8(const U32& t) {
  U32 out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    const size_t len = utf8_detector_at(t, i);
    if (len == 0) {
      out.push_back(t[i++]);
      continue;
    }
    U32 piece = t.substr(i, len);
    out += (len < t.size() && is_bad(piece)) ? fix_encoding_u32(piece) : piece;
    i += len;
  }
  return out;
}

bool has_c1(const U32& t) {
  for (char32_t c : t)
    if (c >= 0x80 && c <= 0x9F) return true;
  return false;
}

// ftfy.fixes.fix_c1_controls: C1 controls read as their Windows-1252 characters.
U32 fix_c1_controls(const U32& t) {
  static const int cp1252 = codepage_index("sloppy-windows-1252");
  U32 out = t;
  for (char32_t& c : out)
    if (c >= 0x80 && c <= 0x9F) c = kCodePages[cp1252].decode[c];
  return out;
}

// One step of ftfy's fix_encoding: the first code page that re-encodes the text into valid
// UTF-8 wins; otherwise embedded runs, then Latin-1 -> Windows-1252, then C1 controls.
U32 fix_encoding_one_step(const U32& text) {
  if (text.empty() || is_ascii(text) || !is_bad(text)) return text;
  static const int latin1 = codepage_index("latin-1");
  static const int cp1252 = codepage_index("sloppy-windows-1252");
  static const int macroman = codepage_index("macroman");
  const auto& encs = encoders();
  std::vector<bool> possible(encs.size(), false);
  Bytes encoded;
  U32 fixed;
  for (size_t p = 0; p < encs.size(); ++p) {
    if (!encode_codepage(text, encs[p], &encoded)) continue;
    possible[p] = true;
    if (static_cast<int>(p) != macroman && altered_utf8_search(encoded))
      encoded = restore_byte_a0(encoded);
    if (encs[p].sloppy) encoded = replace_lossy_sequences(encoded);
    const bool variants =
        encoded.find('\xED') != Bytes::npos || encoded.find('\xC0') != Bytes::npos;
    if (decode_utf8(encoded, variants, &fixed)) return fixed;
  }
  bool detector = false;
  for (size_t i = 0; i < text.size() && !detector; ++i) detector = utf8_detector_at(text, i) > 0;
  if (detector) {
    fixed = decode_inconsistent_utf8(text);
    if (fixed != text) return fixed;
  }
  if (possible[latin1]) {
    // Strict Windows-1252 (five undefined bytes) over the Latin-1 bytes.
    bool ok = true;
    fixed = text;
    for (char32_t& c : fixed) {
      if (c == 0x81 || c == 0x8D || c == 0x8F || c == 0x90 || c == 0x9D) ok = false;
      if (c >= 0x80 && c <= 0x9F) c = kCodePages[cp1252].decode[c];
    }
    if (ok && fixed != text) return fixed;
  }
  if (has_c1(text)) return fix_c1_controls(text);
  return text;
}

U32 fix_encoding_u32(const U32& input) {
  U32 text = input;
  while (true) {
    U32 next = fix_encoding_one_step(text);
    if (next == text) return text;
    text = std::move(next);
  }
}

// ------------------------------------------------------------------------------------------------
// HTML entities
// ------------------------------------------------------------------------------------------------
using EntityMap = std::unordered_map<std::string, std::string>;

const EntityMap& html5_entities() {
  static const EntityMap map = [] {
    EntityMap m;
    m.reserve(kNumHtml5Entities * 2);
    for (int i = 0; i < kNumHtml5Entities; ++i)
      m.emplace(kHtml5Entities[i].name, kHtml5Entities[i].value);
    return m;
  }();
  return map;
}

const EntityMap& ftfy_upper_entities() {
  static const EntityMap map = [] {
    EntityMap m;
    m.reserve(kNumFtfyUpperEntities * 2);
    for (int i = 0; i < kNumFtfyUpperEntities; ++i)
      m.emplace(kFtfyUpperEntities[i].name, kFtfyUpperEntities[i].value);
    return m;
  }();
  return map;
}

bool ascii_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool ascii_hex(char32_t c) {
  return ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool ascii_alnum(char32_t c) {
  return ascii_digit(c) || ascii_letter(c);
}

// What html.unescape makes of numeric reference `num` (kNone: out of range).
void append_numeric_ref(U32& out, uint64_t num) {
  for (int i = 0; i < kNumInvalidCharrefs; ++i) {
    if (kInvalidCharrefs[i].num == num) {
      out.push_back(kInvalidCharrefs[i].cp);
      return;
    }
  }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    out.push_back(0xFFFD);
    return;
  }
  for (int i = 0; i < kNumInvalidCodepoints; ++i)
    if (kInvalidCodepoints[i] == num) return;
  out.push_back(static_cast<char32_t>(num));
}

U32 python_html_unescape(const U32& s) {
  if (s.find(U'&') == U32::npos) return s;
  const auto& entities = html5_entities();
  const size_t n = s.size();
  U32 out;
  out.reserve(n);
  for (size_t i = 0; i < n;) {
    if (s[i] != '&') {
      out.push_back(s[i++]);
      continue;
    }
    const size_t j = i + 1;
    if (j < n && s[j] == '#') {
      size_t k = j + 1;
      int base = 0;
      if (k < n && ascii_digit(s[k])) {
        base = 10;
      } else if (k + 1 < n && (s[k] == 'x' || s[k] == 'X') && ascii_hex(s[k + 1])) {
        base = 16;
        ++k;
      }
      if (base == 0) {
        out.push_back(s[i++]);
        continue;
      }
      uint64_t num = 0;
      size_t e = k;
      for (; e < n && (base == 10 ? ascii_digit(s[e]) : ascii_hex(s[e])); ++e) {
        const char32_t c = s[e];
        const unsigned d = ascii_digit(c) ? c - '0' : ((c | 0x20) - 'a' + 10);
        num = num > 0xFFFFFFFFull ? num : num * base + d;  // saturates far above 0x10FFFF
      }
      if (e < n && s[e] == ';') ++e;
      append_numeric_ref(out, num);
      i = e;
      continue;
    }
    auto excluded = [](char32_t c) {
      return c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' ||
             c == ';';
    };
    size_t e = j;
    while (e < n && e - j < 32 && !excluded(s[e])) ++e;
    if (e == j) {
      out.push_back(s[i++]);
      continue;
    }
    size_t end = e;
    if (end < n && s[end] == ';') ++end;
    const U32 name = s.substr(j, end - j);
    auto it = entities.find(text::u32_to_utf8(name));
    if (it != entities.end()) {
      out += text::utf8_to_u32(it->second);
    } else {
      // the longest prefix (of at least two characters) that is a legacy name without ';'
      bool found = false;
      for (size_t x = name.size() - 1; x >= 2 && x < name.size(); --x) {
        auto p = entities.find(text::u32_to_utf8(name.substr(0, x)));
        if (p != entities.end()) {
          out += text::utf8_to_u32(p->second);
          out += name.substr(x);
          found = true;
          break;
        }
      }
      if (!found) {
        out.push_back('&');
        out += name;
      }
    }
    i = end;
  }
  return out;
}

// ftfy.fixes.unescape_html: only "&name;" forms (HTML5 names, ftfy's all-caps variants) and
// complete numeric references.
U32 ftfy_unescape_html(const U32& s) {
  if (s.find(U'&') == U32::npos) return s;
  const auto& entities = html5_entities();
  const auto& upper = ftfy_upper_entities();
  const size_t n = s.size();
  U32 out;
  out.reserve(n);
  for (size_t i = 0; i < n;) {
    if (s[i] != '&') {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i + 1;
    const bool hash = j < n && s[j] == '#';
    if (hash) ++j;
    size_t e = j;
    while (e < n && ascii_alnum(s[e])) ++e;
    if (e == j || e - j > 24 || e >= n || s[e] != ';') {
      out.push_back(s[i++]);
      continue;
    }
    const U32 match = s.substr(i, e + 1 - i);
    const std::string key = text::u32_to_utf8(match.substr(1));
    auto it = entities.find(key);
    if (it != entities.end()) {
      out += text::utf8_to_u32(it->second);
    } else if ((it = upper.find(key)) != upper.end()) {
      out += text::utf8_to_u32(it->second);
    } else if (hash) {
      U32 decoded = python_html_unescape(match);
      out += decoded.find(U';') == U32::npos ? decoded : match;
    } else {
      out += match;
    }
    i = e + 1;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// The simple character fixers
// ------------------------------------------------------------------------------------------------
U32 fix_latin_ligatures(const U32& t) {
  static const std::unordered_map<char32_t, U32> kLigatures = {
      {0x132, U"IJ"},       {0x133, U"ij"},  {0x149, U"\u02BCn"}, {0x1F1, U"DZ"},
      {0x1F2, U"Dz"},       {0x1F3, U"dz"},  {0x1C4, U"D\u017D"}, {0x1C5, U"D\u017E"},
      {0x1C6, U"d\u017E"},  {0x1C7, U"LJ"},  {0x1C8, U"Lj"},      {0x1C9, U"lj"},
      {0x1CA, U"NJ"},       {0x1CB, U"Nj"},  {0x1CC, U"nj"},      {0xFB00, U"ff"},
      {0xFB01, U"fi"},      {0xFB02, U"fl"}, {0xFB03, U"ffi"},    {0xFB04, U"ffl"},
      {0xFB05, U"\u017Ft"}, {0xFB06, U"st"},
  };
  U32 out;
  out.reserve(t.size());
  for (char32_t c : t) {
    auto it = (c >= 0x132 && c <= 0xFB06) ? kLigatures.find(c) : kLigatures.end();
    if (it == kLigatures.end()) {
      out.push_back(c);
    } else {
      out += it->second;
    }
  }
  return out;
}

// ftfy.fixes.fix_character_width: U+3000 and the NFKC forms of U+FF01..U+FFEF.
U32 fix_character_width(const U32& t) {
  static const std::vector<U32> kWidth = [] {
    std::vector<U32> table(0xFFF0 - 0xFF01);
    for (char32_t c = 0xFF01; c < 0xFFF0; ++c) {
      std::string utf8;
      text::append_utf8(utf8, c);
      gchar* nfkc =
          g_utf8_normalize(utf8.data(), static_cast<gssize>(utf8.size()), G_NORMALIZE_ALL_COMPOSE);
      if (nfkc && utf8 != nfkc) table[c - 0xFF01] = text::utf8_to_u32(nfkc);
      g_free(nfkc);
    }
    return table;
  }();
  U32 out;
  out.reserve(t.size());
  for (char32_t c : t) {
    if (c == 0x3000) {
      out.push_back(' ');
    } else if (c >= 0xFF01 && c < 0xFFF0 && !kWidth[c - 0xFF01].empty()) {
      out += kWidth[c - 0xFF01];
    } else {
      out.push_back(c);
    }
  }
  return out;
}

U32 uncurl_quotes(U32 t) {
  for (char32_t& c : t) {
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) {
      c = '\'';
    } else if (c >= 0x201C && c <= 0x201F) {
      c = '"';
    }
  }
  return t;
}

U32 fix_line_breaks(const U32& t) {
  U32 out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const char32_t c = t[i];
    if (c == '\r') {
      if (i + 1 < t.size() && t[i + 1] == '\n') ++i;
      out.push_back('\n');
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      out.push_back('\n');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ESC [ (digits|;)* letter
U32 remove_terminal_escapes(const U32& t) {
  if (t.find(U'\x1b') == U32::npos) return t;
  U32 out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    if (t[i] == 0x1B && i + 1 < t.size() && t[i + 1] == '[') {
      size_t j = i + 2;
      while (j < t.size() && (t[j] == ';' || g_unichar_type(t[j]) == G_UNICODE_DECIMAL_NUMBER)) ++j;
      if (j < t.size() && ascii_letter(t[j])) {
        i = j + 1;
        continue;
      }
    }
    out.push_back(t[i++]);
  }
  return out;
}

bool is_removed_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

U32 remove_control_chars(const U32& t) {
  U32 out;
  out.reserve(t.size());
  for (char32_t c : t)
    if (!is_removed_control(c)) out.push_back(c);
  return out;
}

// ftfy's fix_and_explain on one segment: every fixer in order, repeated until stable.
U32 fix_segment(U32 text, bool unescape_html) {
  while (true) {
    const U32 original = text;
    if (unescape_html) text = ftfy_unescape_html(text);
    text = fix_encoding_u32(text);
    if (has_c1(text)) text = fix_c1_controls(text);
    text = fix_latin_ligatures(text);
    text = fix_character_width(text);
    text = uncurl_quotes(std::move(text));
    text = fix_line_breaks(text);
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = text::nfc(text);
    if (text == original) return text;
  }
}

// Text that no fixer can change: printable ASCII, tab, newline, form feed, and no '&'.
bool trivially_clean(const U32& t) {
  for (char32_t c : t) {
    if (c == '&') return false;
    if (!((c >= 0x20 && c <= 0x7E) || c == '\t' || c == '\n' || c == '\f')) return false;
  }
  return true;
}

U32 fix_text_u32(const U32& t) {
  if (trivially_clean(t)) return t;
  constexpr size_t kMaxDecodeLength = 1000000;
  bool unescape = true;  // ftfy's "auto": off for good once a segment contains '<'
  U32 out;
  out.reserve(t.size());
  for (size_t pos = 0; pos < t.size();) {
    size_t brk = t.find(U'\n', pos);
    size_t end = brk == U32::npos ? t.size() : brk + 1;
    if (end - pos > kMaxDecodeLength) end = pos + kMaxDecodeLength;
    U32 segment = t.substr(pos, end - pos);
    if (unescape && segment.find(U'<') != U32::npos) unescape = false;
    out += fix_segment(std::move(segment), unescape);
    pos = end;
  }
  return out;
}

}  // namespace

std::string fix_text(const std::string& utf8) {
  return text::u32_to_utf8(fix_text_u32(text::utf8_to_u32(utf8)));
}

std::string fix_encoding(const std::string& utf8) {
  return text::u32_to_utf8(fix_encoding_u32(text::utf8_to_u32(utf8)));
}

bool looks_like_mojibake(const std::string& utf8) {
  return is_bad(text::utf8_to_u32(utf8));
}

std::string html_unescape(const std::string& utf8) {
  return text::u32_to_utf8(python_html_unescape(text::utf8_to_u32(utf8)));
}

}  // namespace editclip
