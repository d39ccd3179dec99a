// TextGenerator: the narrow interface through which evaluation code (persona/,
// experiment/) asks a model for text, so it never depends on how sampling is
// done. infer/ implements it on a Model + Tokenizer; tests use fakes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace masque {

struct GenerateOptions {
  int max_tokens = 64;
  float temperature = 1.0f;  // 0 = greedy
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  std::uint64_t seed = 0;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool ignore_eos = false;  // keep going past <|eos|>/<|end|>/<|bos|> (parity tests, benchmarks)
  // Polled before each decoding step; returning true ends generation with
  // finish_reason "cancelled" (a closed client connection, Ctrl-C).
  std::function<bool()> cancel;
};

class TextGenerator {
 public:
  virtual ~TextGenerator() = default;
  // Continue `prompt` (raw text; the implementation encodes it, parsing special
  // tokens such as <|user|>) and return only the new text.
  virtual std::string generate(const std::string& prompt, const GenerateOptions& options) = 0;
  // Several prompts, options[i] for prompt i (same sizes). The default runs
  // them one by one; a model-backed generator decodes them as one batch.
  virtual std::vector<std::string> generate_batch(const std::vector<std::string>& prompts,
                                                  const std::vector<GenerateOptions>& options) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < prompts.size(); ++i)
      out.push_back(generate(prompts[i], options.at(i)));
    return out;
  }
};

}  // namespace masque
