// ModelTextGenerator: TextGenerator on a Model + Tokenizer with KV-cache
// decoding and the sampler (temperature, top-k, top-p, seed, stop strings).
#pragma once
#include <functional>
#include <string>

#include "infer/text_generator.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace masque {

class ModelTextGenerator final : public TextGenerator {
 public:
  // max_seq_len 0 = the model's max_position_embeddings. The prompt is
  // left-truncated to fit max_seq_len - max_tokens.
  ModelTextGenerator(const Model& model, const Tokenizer& tokenizer, int max_seq_len = 0);
  std::string generate(const std::string& prompt, const GenerateOptions& options) override;
  // Streaming variant: on_text receives each decoded piece as it is produced.
  std::string generate_stream(const std::string& prompt, const GenerateOptions& options,
                              const std::function<void(const std::string&)>& on_text);

 private:
  const Model& model_;
  const Tokenizer& tokenizer_;
  int max_seq_len_;
};

}  // namespace masque
