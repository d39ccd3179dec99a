// Hand-written scanners equivalent to the cl100k and GPT-2 split regexes under
// leftmost-first (Oniguruma / HF) semantics. Each function tries the regex's
// alternatives in order at one position and returns the first match's length;
// the comments name the alternative each branch implements.
#include "tokenizer/pretokenizer.h"

namespace masque {

const std::string_view kCl100kRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

class Cursor {
 public:
  explicit Cursor(std::string_view text)
      : begin_(reinterpret_cast<const unsigned char*>(text.data())), end_(begin_ + text.size()) {}
  std::size_t size() const { return static_cast<std::size_t>(end_ - begin_); }
  bool at_end(std::size_t pos) const { return pos >= size(); }
  Utf8Char at(std::size_t pos) const { return decode_utf8(begin_ + pos, end_); }
  unsigned char byte(std::size_t pos) const { return begin_[pos]; }

  // Advances over characters of class cls; returns the end position.
  std::size_t skip(std::size_t pos, CharClass cls) const {
    while (!at_end(pos)) {
      Utf8Char c = at(pos);
      if (c.cls != cls) break;
      pos += c.len;
    }
    return pos;
  }

 private:
  const unsigned char* begin_;
  const unsigned char* end_;
};

bool is_newline(char32_t cp) { return cp == '\r' || cp == '\n'; }

// Case-insensitive ASCII letter match as Oniguruma folds it: 's' also matches
// U+017F LATIN SMALL LETTER LONG S (measured against HF, the only non-ASCII fold
// among s t r e v m l d).
std::size_t fold_match(const Cursor& cur, std::size_t pos, char lower, bool case_insensitive) {
  if (cur.at_end(pos)) return 0;
  Utf8Char c = cur.at(pos);
  if (c.cp == static_cast<char32_t>(lower)) return c.len;
  if (!case_insensitive) return 0;
  if (c.cp == static_cast<char32_t>(lower - 'a' + 'A')) return c.len;
  if (lower == 's' && c.cp == 0x17F) return c.len;
  return 0;
}

// 's|'t|'re|'ve|'m|'ll|'d at pos (text[pos] == '\''); 0 when none matches.
std::size_t contraction(const Cursor& cur, std::size_t pos, bool case_insensitive) {
  std::size_t p = pos + 1;
  for (char single : {'s', 't'}) {
    if (std::size_t n = fold_match(cur, p, single, case_insensitive)) return 1 + n;
  }
  const char pairs[3][2] = {{'r', 'e'}, {'v', 'e'}, {'m', 0}};
  for (const auto& pair : pairs) {
    std::size_t n1 = fold_match(cur, p, pair[0], case_insensitive);
    if (n1 == 0) continue;
    if (pair[1] == 0) return 1 + n1;
    if (std::size_t n2 = fold_match(cur, p + n1, pair[1], case_insensitive)) return 1 + n1 + n2;
  }
  if (std::size_t n1 = fold_match(cur, p, 'l', case_insensitive)) {
    if (std::size_t n2 = fold_match(cur, p + n1, 'l', case_insensitive)) return 1 + n1 + n2;
  }
  if (std::size_t n = fold_match(cur, p, 'd', case_insensitive)) return 1 + n;
  return 0;
}

// \s*[\r\n]+ | \s+(?!\S) | \s+ at a whitespace character. cl100k tries the
// first alternative; GPT-2 has only the last two.
std::size_t whitespace_run(const Cursor& cur, std::size_t pos, bool newline_alternative) {
  std::size_t end = pos;
  std::size_t after_last_newline = 0;
  std::size_t last_char_start = pos;
  while (!cur.at_end(end)) {
    Utf8Char c = cur.at(end);
    if (c.cls != CharClass::kSpace) break;
    last_char_start = end;
    end += c.len;
    if (is_newline(c.cp)) after_last_newline = end;
  }
  // \s*[\r\n]+: greedy \s* backs off to the last newline of the run.
  if (newline_alternative && after_last_newline != 0) return after_last_newline - pos;
  // \s+(?!\S): the whole run at the end of text, else all but its last char.
  if (cur.at_end(end)) return end - pos;
  if (last_char_start > pos) return last_char_start - pos;
  // \s+: a single whitespace char before non-whitespace.
  return end - pos;
}

std::size_t next_cl100k(const Cursor& cur, std::size_t pos) {
  const Utf8Char c0 = cur.at(pos);
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (c0.cp == '\'') {
    if (std::size_t n = contraction(cur, pos, true)) return n;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c0.cls == CharClass::kLetter) return cur.skip(pos, CharClass::kLetter) - pos;
  if (c0.cls != CharClass::kNumber && !is_newline(c0.cp)) {
    std::size_t p1 = pos + c0.len;
    if (!cur.at_end(p1) && cur.at(p1).cls == CharClass::kLetter) {
      return cur.skip(p1, CharClass::kLetter) - pos;
    }
  }
  // \p{N}{1,3}
  if (c0.cls == CharClass::kNumber) {
    std::size_t p = pos + c0.len;
    for (int count = 1; count < 3 && !cur.at_end(p); ++count) {
      Utf8Char c = cur.at(p);
      if (c.cls != CharClass::kNumber) break;
      p += c.len;
    }
    return p - pos;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  std::size_t p = pos;
  if (c0.cp == ' ') p += 1;
  if (!cur.at_end(p) && cur.at(p).cls == CharClass::kOther) {
    p = cur.skip(p, CharClass::kOther);
    while (!cur.at_end(p) && is_newline(cur.byte(p))) ++p;
    return p - pos;
  }
  // Only whitespace is left: \s*[\r\n]+|\s+(?!\S)|\s+
  return whitespace_run(cur, pos, true);
}

std::size_t next_gpt2(const Cursor& cur, std::size_t pos) {
  const Utf8Char c0 = cur.at(pos);
  // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
  if (c0.cp == '\'') {
    if (std::size_t n = contraction(cur, pos, false)) return n;
  }
  // ' ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+': the optional space binds to the
  // class of the character after it.
  std::size_t p = pos;
  CharClass cls = c0.cls;
  if (c0.cp == ' ' && !cur.at_end(pos + 1)) {
    CharClass next = cur.at(pos + 1).cls;
    if (next != CharClass::kSpace) {
      p = pos + 1;
      cls = next;
    }
  }
  if (cls != CharClass::kSpace) return cur.skip(p, cls) - pos;
  // \s+(?!\S)|\s+
  return whitespace_run(cur, pos, false);
}

}  // namespace

std::size_t next_pretoken(SplitPattern pattern, std::string_view text, std::size_t pos) {
  Cursor cur(text);
  return pattern == SplitPattern::kCl100k ? next_cl100k(cur, pos) : next_gpt2(cur, pos);
}

}  // namespace masque
