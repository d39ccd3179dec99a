// ModelTextGenerator: TextGenerator on a Model + Tokenizer with KV-cache
// decoding and the sampler (temperature, top-k, top-p, seed, stop strings).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "infer/text_generator.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace masque {

// Everything one generation produced, for callers that want token ids
// (`masque sample --json`, parity tests) rather than only text.
struct GenerationResult {
  std::string text;                        // new text, stop string excluded
  std::vector<std::int32_t> prompt_tokens;  // after BOS insertion and truncation
  std::vector<std::int32_t> tokens;         // generated ids (the stop token excluded)
  std::string finish_reason;               // "stop" (eos/end/stop string) or "length"
  double prefill_seconds = 0;              // prompt into the KV cache
  double decode_seconds = 0;               // sampling and appending new tokens
};

class ModelTextGenerator final : public TextGenerator {
 public:
  // max_seq_len 0 = the model's max_position_embeddings. The prompt is
  // left-truncated to fit max_seq_len - max_tokens.
  ModelTextGenerator(const Model& model, const Tokenizer& tokenizer, int max_seq_len = 0);
  std::string generate(const std::string& prompt, const GenerateOptions& options) override;
  // Streaming variant: on_text receives each decoded piece as it is produced.
  std::string generate_stream(const std::string& prompt, const GenerateOptions& options,
                              const std::function<void(const std::string&)>& on_text);
  // The full record; on_text may be empty. Generation ends at max_tokens, at a
  // stop string, or when the model emits <|eos|>, <|end|> or <|bos|>.
  GenerationResult run(const std::string& prompt, const GenerateOptions& options,
                       const std::function<void(const std::string&)>& on_text = {});
  // Same from token ids (no BOS added): parity tests feed exact ids.
  GenerationResult run_tokens(std::vector<std::int32_t> prompt, const GenerateOptions& options,
                              const std::function<void(const std::string&)>& on_text = {});

 private:
  const Model& model_;
  const Tokenizer& tokenizer_;
  int max_seq_len_;
};

}  // namespace masque
