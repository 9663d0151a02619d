// Data tables behind text_fixes.cpp, generated from ftfy 6.3.1 and Python's codecs/html modules by
// gen_ftfy_tables.py (ftfy_tables.cpp). Internal to the tokenizer.
#pragma once

#include <cstdint>

namespace editclip::ftfy_tables {

// One single-byte code page (ftfy's CHARMAP_ENCODINGS, in its order): byte -> code point.
struct CodePage {
  const char* name;
  uint32_t decode[256];
};

// Membership of a code point in ftfy's mojibake character classes (bit i = Cat value i).
struct CharClassEntry {
  uint32_t cp;
  uint32_t mask;
};

enum Cat : uint32_t {
  kCommon = 1u << 0,
  kC1 = 1u << 1,
  kBad = 1u << 2,
  kLaw = 1u << 3,
  kCurrency = 1u << 4,
  kStartPunct = 1u << 5,
  kEndPunct = 1u << 6,
  kNumeric = 1u << 7,
  kKaomoji = 1u << 8,
  kUpperAccented = 1u << 9,
  kLowerAccented = 1u << 10,
  kUpperCommon = 1u << 11,
  kLowerCommon = 1u << 12,
  kBox = 1u << 13,
  kUtf8First2 = 1u << 14,
  kUtf8First3 = 1u << 15,
  kUtf8First4 = 1u << 16,
  kUtf8Cont = 1u << 17,
  kUtf8ContStrict = 1u << 18,
};

struct Entity {
  const char* name;   // without the leading '&'
  const char* value;  // UTF-8
};

struct NumericRef {
  uint32_t num;
  uint32_t cp;
};

extern const CodePage kCodePages[];
extern const int kNumCodePages;
extern const CharClassEntry kCharClasses[];  // sorted by cp
extern const int kNumCharClasses;
extern const Entity kHtml5Entities[];  // Python's html.entities.html5, sorted by name
extern const int kNumHtml5Entities;
extern const Entity kFtfyUpperEntities[];  // ftfy's extra all-caps names ("EACUTE;")
extern const int kNumFtfyUpperEntities;
extern const NumericRef kInvalidCharrefs[];  // html.unescape's remapped numeric references
extern const int kNumInvalidCharrefs;
extern const uint32_t kInvalidCodepoints[];  // numeric references html.unescape drops
extern const int kNumInvalidCodepoints;

}  // namespace editclip::ftfy_tables
