// Character classes of the pre-split regexes (\p{L}, \p{N}, \s) and a small
// UTF-8 decoder. The class of every code point comes from generated range
// tables (unicode_tables.cpp, measured from HF tokenizers' regex engine) and is
// looked up in a flat table built once, so the scanner never runs a regex.
#pragma once
#include <cstddef>
#include <cstdint>

namespace masque {

struct CodepointRange {
  char32_t lo;
  char32_t hi;  // inclusive
};

enum class CharClass : std::uint8_t {
  kOther = 0,   // neither letter, number nor whitespace (punctuation, symbols, marks)
  kLetter = 1,  // \p{L}
  kNumber = 2,  // \p{N}
  kSpace = 3,   // \s
};

// Class of a Unicode scalar value (anything above U+10FFFF is kOther).
CharClass char_class(char32_t cp);

// One decoded character of possibly-invalid UTF-8. Bytes that do not start a
// valid sequence decode as a single "character" of length 1 and class kOther,
// so arbitrary bytes still split into contiguous pieces and round-trip.
struct Utf8Char {
  char32_t cp;
  std::uint32_t len;
  CharClass cls;
};

// Class of each ASCII byte (the hot path): letters, digits, \t\n\v\f\r and
// space; everything else (including U+001C..U+001F) is kOther.
inline constexpr auto kAsciiClass = [] {
  struct Table {
    CharClass cls[128];
  } t{};
  for (int c = 0; c < 128; ++c) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    t.cls[c] = letter                              ? CharClass::kLetter
               : (c >= '0' && c <= '9')            ? CharClass::kNumber
               : (c == ' ' || (c >= 9 && c <= 13)) ? CharClass::kSpace
                                                   : CharClass::kOther;
  }
  return t;
}();

// Multi-byte (or invalid) character at p; use decode_utf8.
Utf8Char decode_utf8_slow(const unsigned char* p, const unsigned char* end);

// Decodes the character starting at p (p < end). Rejects overlong forms,
// surrogates and values above U+10FFFF exactly like a strict decoder.
inline Utf8Char decode_utf8(const unsigned char* p, const unsigned char* end) {
  if (p[0] < 0x80) return {p[0], 1, kAsciiClass.cls[p[0]]};
  return decode_utf8_slow(p, end);
}

namespace unicode_tables {
extern const CodepointRange kLetterRanges[];
extern const std::size_t kLetterRanges_count;
extern const CodepointRange kNumberRanges[];
extern const std::size_t kNumberRanges_count;
extern const CodepointRange kSpaceRanges[];
extern const std::size_t kSpaceRanges_count;
}  // namespace unicode_tables

}  // namespace masque
