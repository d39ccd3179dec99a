// ModelTextGenerator: TextGenerator on a Model + Tokenizer through the
// inference engine: prefill the prompt into a KV cache, then sample token by
// token (sequence_decoder.h). Batches of sequences decode together, one
// engine step per token for all of them; sample_n prefills a prompt once and
// forks its cache for each continuation; continue_cache extends a
// caller-owned cache (chat keeps one per conversation).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "infer/sequence_decoder.h"
#include "infer/text_generator.h"
#include "model/inference_engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace masque {

class ModelTextGenerator final : public TextGenerator {
 public:
  // max_seq_len 0 = the model's max_position_embeddings. Prompts longer
  // than max_seq_len - max_tokens keep <|bos|>, the role token of the first
  // turn kept and the newest tokens (fit_prompt).
  ModelTextGenerator(const Model& model, const Tokenizer& tokenizer, int max_seq_len = 0,
                     EngineOptions engine = {});

  std::string generate(const std::string& prompt, const GenerateOptions& options) override;
  std::vector<std::string> generate_batch(const std::vector<std::string>& prompts,
                                          const std::vector<GenerateOptions>& options) override;
  // Streaming variant: on_text receives each decoded piece as it is produced.
  std::string generate_stream(const std::string& prompt, const GenerateOptions& options,
                              const TextCallback& on_text);

  // The full record. Generation ends at max_tokens, at a stop string, when
  // the model emits <|eos|>, <|end|> or <|bos|>, or when options.cancel says so.
  GenerationResult run(const std::string& prompt, const GenerateOptions& options,
                       const TextCallback& on_text = {},
                       const Interventions* interventions = nullptr);
  // Same from token ids (no BOS added): parity tests feed exact ids.
  GenerationResult run_tokens(std::vector<std::int32_t> prompt, const GenerateOptions& options,
                              const TextCallback& on_text = {},
                              const Interventions* interventions = nullptr);
  // Several prompts decoded together; options[i] (seed, stop, ...) is
  // sequence i's. Interventions' batch_row is the index in `prompts`.
  std::vector<GenerationResult> run_batch(std::vector<std::vector<std::int32_t>> prompts,
                                          const std::vector<GenerateOptions>& options,
                                          const Interventions* interventions = nullptr);
  // One prompt prefilled once, n continuations; continuation i samples
  // with seed options.seed + i.
  std::vector<GenerationResult> sample_n(std::vector<std::int32_t> prompt, int n,
                                         const GenerateOptions& options,
                                         const Interventions* interventions = nullptr);
  // Appends new_tokens to a caller-owned cache and generates after them.
  // Afterwards the cache holds everything it held, new_tokens, and the
  // generated tokens (not the final end token, which was never fed).
  GenerationResult continue_cache(KvCache& cache, std::span<const std::int32_t> new_tokens,
                                  const GenerateOptions& options, const TextCallback& on_text = {},
                                  const Interventions* interventions = nullptr);

  // Prompt text to ids: special tokens parsed, <|bos|> put first.
  std::vector<std::int32_t> encode_prompt(const std::string& prompt) const;
  InferenceEngine& engine() { return engine_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  int max_seq_len() const { return max_seq_len_; }

 private:
  void check_options(const GenerateOptions& options) const;
  void fit_prompt(std::vector<std::int32_t>& prompt, const GenerateOptions& options) const;
  std::int32_t special_or(std::string_view token) const;  // its id, or -1 when absent
  // Decodes sequences whose caches hold their prompts (first_logits [n, V]);
  // sequence i samples with options[i] (its seed included). Each result has
  // its tokens, text, finish reason and decode_seconds; the caller adds the
  // prompt and the prefill time. on_text streams sequence 0.
  std::vector<GenerationResult> decode(std::span<KvCache* const> caches,
                                       std::span<const float> first_logits,
                                       const std::vector<GenerateOptions>& options,
                                       const Interventions* interventions,
                                       const TextCallback& on_text = {});

  const Model& model_;
  const Tokenizer& tokenizer_;
  int max_seq_len_;
  InferenceEngine engine_;
};

}  // namespace masque
