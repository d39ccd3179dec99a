// Byte-level BPE training (`masque tokenizer train`): multi-threaded pre-token
// counting, then merges by pair frequency (ties broken deterministically, so
// the same input and options give a byte-identical tokenizer.json).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace masque {

struct BpeTrainOptions {
  // Files or glob patterns; .jsonl files contribute each line's "text" field,
  // anything else is read as plain text (one document per file).
  std::vector<std::string> inputs;
  std::uint32_t vocab_size = 4096;  // including the 256 byte tokens and specials
  std::uint32_t min_frequency = 2;  // pairs rarer than this are never merged
  std::uint64_t max_bytes = 0;      // 0 = read all input
  bool progress = true;
};

// Throws InputError for no input files, an empty corpus, or a vocab size below
// 256 + number of special tokens.
Tokenizer train_bpe(const BpeTrainOptions& options);

// Expand files/globs into a sorted list of existing files; InputError naming
// the pattern when nothing matches.
std::vector<std::filesystem::path> expand_inputs(const std::vector<std::string>& patterns);

}  // namespace masque
