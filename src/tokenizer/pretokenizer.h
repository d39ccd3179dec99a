// Pre-split: cuts text into the pieces BPE merges never cross, exactly as Hugging
// Face's Split pre-tokenizer does with the GPT-4 (cl100k) regex, or as its
// ByteLevel pre-tokenizer does with the GPT-2 regex. Both are hand-written
// scanners (no regex engine on the hot path); docs/tokenizer.md spells out
// how each regex alternative maps to a branch here.
#pragma once
#include <cstddef>
#include <string_view>

#include "tokenizer/unicode_class.h"

namespace masque {

enum class SplitPattern {
  kCl100k,  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
            // ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kGpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
};

// The regex as HF writes it in tokenizer.json (Split pattern.Regex) for kCl100k.
extern const std::string_view kCl100kRegex;

// Length in bytes of the pre-token starting at text[pos] (pos < text.size()).
std::size_t next_pretoken(SplitPattern pattern, std::string_view text, std::size_t pos);

// Calls fn(piece) for every pre-token of text, in order; the pieces tile text.
template <class Fn>
void for_each_pretoken(SplitPattern pattern, std::string_view text, Fn&& fn) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t len = next_pretoken(pattern, text, pos);
    fn(text.substr(pos, len));
    pos += len;
  }
}

}  // namespace masque
