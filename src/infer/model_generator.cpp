// ModelTextGenerator: prefill the prompt into a KV cache, then sample one
// token at a time. Text is accumulated as raw bytes; streaming emits only
// bytes that (1) end on a UTF-8 character boundary and (2) cannot be the start
// of a stop string, so a stop string split across tokens is never printed.
#include "infer/model_generator.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/error.h"
#include "core/rng.h"
#include "infer/sampler.h"

namespace masque {
namespace {

// Length of the longest prefix of `bytes` that ends on a complete UTF-8
// character (an incomplete multi-byte sequence at the end is held back).
std::size_t complete_utf8_prefix(const std::string& bytes) {
  const std::size_t n = bytes.size();
  // Look back at most 3 bytes for the lead byte of the last character.
  for (std::size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(bytes[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    std::size_t need = 1;
    if ((c & 0xE0) == 0xC0)
      need = 2;
    else if ((c & 0xF0) == 0xE0)
      need = 3;
    else if ((c & 0xF8) == 0xF0)
      need = 4;
    return back >= need ? n : n - back;
  }
  return n;  // only continuation bytes: invalid UTF-8, emit as is
}

// Bytes at the end of `text` (from `from` on) that might begin a stop string.
std::size_t held_for_stop(const std::string& text, std::size_t from,
                          const std::vector<std::string>& stops) {
  std::size_t hold = 0;
  for (const std::string& stop : stops) {
    for (std::size_t len = std::min(stop.size() - 1, text.size() - from); len > hold; --len) {
      if (text.compare(text.size() - len, len, stop, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

}  // namespace

ModelTextGenerator::ModelTextGenerator(const Model& model, const Tokenizer& tokenizer,
                                       int max_seq_len)
    : model_(model),
      tokenizer_(tokenizer),
      max_seq_len_(max_seq_len > 0 ? max_seq_len : model.config().max_position_embeddings) {}

std::string ModelTextGenerator::generate(const std::string& prompt,
                                         const GenerateOptions& options) {
  return run(prompt, options).text;
}

std::string ModelTextGenerator::generate_stream(
    const std::string& prompt, const GenerateOptions& options,
    const std::function<void(const std::string&)>& on_text) {
  return run(prompt, options, on_text).text;
}

GenerationResult ModelTextGenerator::run(const std::string& prompt, const GenerateOptions& options,
                                         const std::function<void(const std::string&)>& on_text) {
  std::vector<std::int32_t> ids;
  const auto bos = tokenizer_.special_id(kBosToken);
  const std::vector<std::uint32_t> encoded = tokenizer_.encode_with_specials(prompt);
  // Training documents start with <|bos|>; prompts are continuations of one.
  if (bos && (encoded.empty() || encoded.front() != *bos))
    ids.push_back(static_cast<std::int32_t>(*bos));
  for (std::uint32_t id : encoded) ids.push_back(static_cast<std::int32_t>(id));
  return run_tokens(std::move(ids), options, on_text);
}

GenerationResult ModelTextGenerator::run_tokens(
    std::vector<std::int32_t> prompt, const GenerateOptions& options,
    const std::function<void(const std::string&)>& on_text) {
  if (options.max_tokens < 0)
    throw InputError(cat("max tokens must be >= 0, got ", options.max_tokens));
  if (options.max_tokens >= max_seq_len_) {
    throw InputError(cat("max tokens ", options.max_tokens, " must be below the context length ",
                         max_seq_len_, " (lower --max-tokens)"));
  }
  for (const std::string& stop : options.stop) {
    if (stop.empty()) throw InputError("stop strings must not be empty");
  }
  const int vocab = model_.config().vocab_size;
  for (std::int32_t id : prompt) {
    if (id < 0 || id >= vocab) {
      throw InputError(cat("prompt token id ", id, " is outside the model's vocabulary of ", vocab,
                           " (tokenizer and model do not match)"));
    }
  }
  if (prompt.empty()) throw InputError("empty prompt: give at least one token (e.g. <|bos|>)");
  // Left-truncate so prompt + new tokens fit the context.
  const std::size_t room = static_cast<std::size_t>(max_seq_len_ - options.max_tokens);
  if (prompt.size() > room)
    prompt.erase(prompt.begin(), prompt.end() - static_cast<std::ptrdiff_t>(room));

  GenerationResult result;
  result.prompt_tokens = prompt;
  result.finish_reason = "length";
  std::vector<std::int32_t> end_ids;
  for (std::string_view special : {kEosToken, kEndTurnToken, kBosToken}) {
    if (auto id = tokenizer_.special_id(special)) end_ids.push_back(static_cast<std::int32_t>(*id));
  }

  SamplerOptions sampler_options;
  sampler_options.temperature = options.temperature;
  sampler_options.top_k = options.top_k;
  sampler_options.top_p = options.top_p;
  Sampler sampler(sampler_options);
  Rng rng(options.seed);

  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  InferenceSession session(model_, max_seq_len_);
  std::span<const float> logits = session.append(prompt);
  const auto t1 = Clock::now();
  result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  std::string text;         // raw bytes generated so far
  std::size_t emitted = 0;  // bytes already passed to on_text
  std::optional<std::size_t> stop_at;
  for (int step = 0; step < options.max_tokens; ++step) {
    const std::int32_t token = sampler.sample(logits, rng);
    if (!options.ignore_eos && std::find(end_ids.begin(), end_ids.end(), token) != end_ids.end()) {
      result.finish_reason = "stop";
      break;
    }
    result.tokens.push_back(token);
    // Models may pad vocab_size beyond the tokenizer (HF checkpoints often
    // round to a multiple of 64); such ids have no text, as in HF's decode.
    if (static_cast<std::uint32_t>(token) < tokenizer_.vocab_size()) {
      text += tokenizer_.token_text(static_cast<std::uint32_t>(token));
    }
    // A stop string may start in earlier bytes; search the tail that could hold it.
    for (const std::string& stop : options.stop) {
      const std::size_t from = emitted >= stop.size() ? emitted - stop.size() : 0;
      const std::size_t pos = text.find(stop, from);
      if (pos != std::string::npos && (!stop_at || pos < *stop_at)) stop_at = pos;
    }
    if (stop_at) {
      result.finish_reason = "stop";
      break;
    }
    if (on_text) {
      std::size_t ready = complete_utf8_prefix(text);
      ready -= std::min(ready, held_for_stop(text.substr(0, ready), emitted, options.stop));
      if (ready > emitted) {
        on_text(text.substr(emitted, ready - emitted));
        emitted = ready;
      }
    }
    if (step + 1 < options.max_tokens) {
      const std::int32_t next[1] = {token};
      logits = session.append(next);
    }
  }
  result.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  if (stop_at) text.resize(*stop_at);
  if (on_text && text.size() > emitted) on_text(text.substr(emitted));
  result.text = std::move(text);
  return result;
}

}  // namespace masque
