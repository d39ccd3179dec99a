// Flat code point -> class table (1.1 MB, built on first use from the
// generated ranges) and the UTF-8 decoder the pre-split scanner runs on.
#include "tokenizer/unicode_class.h"

#include <vector>

namespace masque {
namespace {

constexpr char32_t kMaxCodepoint = 0x10FFFF;

std::vector<CharClass> build_table() {
  std::vector<CharClass> table(kMaxCodepoint + 1, CharClass::kOther);
  auto fill = [&](const CodepointRange* ranges, std::size_t count, CharClass cls) {
    for (std::size_t range_idx = 0; range_idx < count; ++range_idx) {
      for (char32_t cp = ranges[range_idx].lo; cp <= ranges[range_idx].hi; ++cp) table[cp] = cls;
    }
  };
  fill(unicode_tables::kLetterRanges, unicode_tables::kLetterRanges_count, CharClass::kLetter);
  fill(unicode_tables::kNumberRanges, unicode_tables::kNumberRanges_count, CharClass::kNumber);
  fill(unicode_tables::kSpaceRanges, unicode_tables::kSpaceRanges_count, CharClass::kSpace);
  return table;
}

const CharClass* class_table() {
  static const std::vector<CharClass> table = build_table();
  return table.data();
}

}  // namespace

CharClass char_class(char32_t cp) {
  if (cp > kMaxCodepoint) return CharClass::kOther;
  return class_table()[cp];
}

Utf8Char decode_utf8_slow(const unsigned char* p, const unsigned char* end) {
  static const CharClass* table = class_table();
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1, table[b0]};
  const std::size_t avail = static_cast<std::size_t>(end - p);
  auto cont = [&](std::size_t i) { return i < avail && (p[i] & 0xC0) == 0x80; };
  char32_t cp;
  std::uint32_t len;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return {b0, 1, CharClass::kOther};
    cp = (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return {b0, 1, CharClass::kOther};
    cp = (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return {b0, 1, CharClass::kOther};
    len = 3;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return {b0, 1, CharClass::kOther};
    cp = (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
         (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    if (cp < 0x10000 || cp > kMaxCodepoint) return {b0, 1, CharClass::kOther};
    len = 4;
  } else {
    return {b0, 1, CharClass::kOther};
  }
  return {cp, len, table[cp]};
}

}  // namespace masque
