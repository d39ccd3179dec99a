// `masque tokenize`: text/JSONL -> train/val shards in a directory, with
// meta.json (tokenizer fingerprint, vocab size, token and document counts).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace masque {

struct TokenizeOptions {
  std::vector<std::string> inputs;  // files or globs (.jsonl "text" field, else plain)
  std::filesystem::path out_dir;
  double val_fraction = 0.01;  // documents sent to the val split (deterministic)
  std::uint64_t shard_tokens = 100'000'000;
  bool progress = true;
  // Encode special-token strings inside documents ("<|user|>") as control
  // tokens: world v2 corpora hold chat-format interviews (docs/world.md).
  bool specials = false;
};

struct TokenizeStats {
  std::uint64_t documents = 0;
  std::uint64_t train_tokens = 0;
  std::uint64_t val_tokens = 0;
  std::uint64_t bytes = 0;
};

TokenizeStats tokenize_corpus(const Tokenizer& tokenizer, const TokenizeOptions& options);

// The corpus step of `masque demo` and of experiment recipes: train a
// byte-level BPE tokenizer on `inputs`, save it to tokenizer_path, and
// tokenize the same inputs into data_dir (val_fraction of documents to val).
struct CorpusTokens {
  Tokenizer tokenizer;
  TokenizeStats stats;
};
CorpusTokens train_and_tokenize(const std::vector<std::string>& inputs, std::uint32_t vocab_size,
                                const std::filesystem::path& tokenizer_path,
                                const std::filesystem::path& data_dir, double val_fraction,
                                bool progress, bool specials = false);

}  // namespace masque
