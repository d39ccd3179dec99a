// Shared fixtures for tokenizer tests: a scratch directory and a small
// tokenizer trained on a generated multilingual corpus.
#pragma once
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "tokenizer/bpe_trainer.h"

namespace masque::test {

inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("masque_tok_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string sample_text(std::mt19937_64& rng, int words) {
  static const char* vocab[] = {"the",
                                "quick",
                                "brown",
                                "fox",
                                "it's",
                                "we're",
                                "HELLO",
                                "12345",
                                "3.14",
                                "na\xC3\xAFve",
                                "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
                                "\xF0\x9F\x98\x80",
                                "e\xCC\x81",
                                "  ",
                                "\n",
                                "\t",
                                "code()",
                                "x = y + 1;",
                                "persona",
                                "masque"};
  std::string out;
  for (int i = 0; i < words; ++i) {
    if (i) out += ' ';
    out += vocab[rng() % std::size(vocab)];
  }
  return out;
}

inline std::filesystem::path write_corpus(const std::filesystem::path& dir, int docs,
                                          unsigned seed = 1) {
  std::mt19937_64 rng(seed);
  auto path = dir / "corpus.jsonl";
  std::ofstream out(path);
  for (int d = 0; d < docs; ++d) {
    std::string text = sample_text(rng, 5 + static_cast<int>(rng() % 40));
    std::string escaped;
    for (char c : text) {
      if (c == '\n')
        escaped += "\\n";
      else if (c == '\t')
        escaped += "\\t";
      else if (c == '"')
        escaped += "\\\"";
      else
        escaped += c;
    }
    out << "{\"text\": \"" << escaped << "\"}\n";
  }
  return path;
}

inline Tokenizer train_small(const std::filesystem::path& corpus, std::uint32_t vocab = 400) {
  BpeTrainOptions options;
  options.inputs = {corpus.string()};
  options.vocab_size = vocab;
  options.progress = false;
  return train_bpe(options);
}

}  // namespace masque::test
