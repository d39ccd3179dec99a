// SequenceDecoder: what happens to one sequence's logits during generation,
// shared by single and batched decoding: sample (temperature, top-k, top-p,
// its own seeded Rng), stop at an end token, a stop string or max_tokens,
// and stream text that is safe to show. Streaming emits only bytes that (1)
// end on a UTF-8 character boundary and (2) cannot be the start of a stop
// string, so a stop string split across tokens is never printed.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/rng.h"
#include "infer/sampler.h"
#include "infer/text_generator.h"
#include "tokenizer/tokenizer.h"

namespace masque {

// Everything one generation produced, for callers that want token ids
// (`masque sample --json`, parity tests) rather than only text.
struct GenerationResult {
  std::string text;                         // new text, stop string excluded
  std::vector<std::int32_t> prompt_tokens;  // after BOS insertion and truncation
  std::vector<std::int32_t> tokens;         // generated ids (the end token excluded)
  std::string finish_reason;    // "stop" (end token or stop string), "length" or "cancelled"
  bool ended_by_token = false;  // finished on <|eos|>/<|end|>/<|bos|>
  double prefill_seconds = 0;   // prompt into the KV cache
  double decode_seconds = 0;    // sampling and appending new tokens
};

using TextCallback = std::function<void(const std::string&)>;

class SequenceDecoder {
 public:
  // Ends at the tokenizer's <|eos|>, <|end|> and <|bos|>, and at
  // model_eos_ids (config.json's eos_token_id, a list for Llama 3), as HF
  // generate does, unless options.ignore_eos.
  SequenceDecoder(const Tokenizer& tokenizer, const GenerateOptions& options, std::uint64_t seed,
                  TextCallback on_text = {}, std::span<const int> model_eos_ids = {});
  // Samples from `logits`. Returns the token to feed next, or nothing when
  // the sequence is finished (then result() is complete).
  std::optional<std::int32_t> next(std::span<const float> logits);
  void cancel();  // finish now with finish_reason "cancelled"
  bool done() const { return done_; }
  GenerationResult& result() { return result_; }

 private:
  void finish(const char* reason);
  const Tokenizer& tokenizer_;
  const GenerateOptions& options_;
  Sampler sampler_;
  Rng rng_;
  TextCallback on_text_;
  std::vector<std::int32_t> end_ids_;
  std::string text_;         // raw bytes generated so far
  std::size_t emitted_ = 0;  // bytes already passed to on_text
  std::optional<std::size_t> stop_at_;
  bool done_ = false;
  GenerationResult result_;
};

}  // namespace masque
