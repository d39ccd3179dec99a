// ModelTextGenerator (see model_generator.h): prompt handling, prefill, and
// the lockstep decoding loop over any number of sequences.
#include "infer/model_generator.h"

#include <chrono>

#include "core/error.h"

namespace masque {
namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
}  // namespace

ModelTextGenerator::ModelTextGenerator(const Model& model, const Tokenizer& tokenizer,
                                       int max_seq_len, EngineOptions engine)
    : model_(model),
      tokenizer_(tokenizer),
      max_seq_len_(max_seq_len > 0 ? max_seq_len : model.config().max_position_embeddings),
      engine_(model, engine) {
  if (max_seq_len_ > model.config().max_position_embeddings) {
    throw InputError(cat("context length ", max_seq_len_,
                         " exceeds the model's max_position_embeddings ",
                         model.config().max_position_embeddings));
  }
}

std::string ModelTextGenerator::generate(const std::string& prompt,
                                         const GenerateOptions& options) {
  return run(prompt, options).text;
}

std::string ModelTextGenerator::generate_stream(const std::string& prompt,
                                                const GenerateOptions& options,
                                                const TextCallback& on_text) {
  return run(prompt, options, on_text).text;
}

std::vector<std::string> ModelTextGenerator::generate_batch(
    const std::vector<std::string>& prompts, const std::vector<GenerateOptions>& options) {
  std::vector<std::vector<std::int32_t>> ids;
  for (const std::string& p : prompts) ids.push_back(encode_prompt(p));
  std::vector<std::string> out;
  for (GenerationResult& r : run_batch(std::move(ids), options)) out.push_back(std::move(r.text));
  return out;
}

std::vector<std::int32_t> ModelTextGenerator::encode_prompt(const std::string& prompt) const {
  // As HF's tokenizer(prompt) encodes it: the tokenizer's post-processor
  // decides whether a <|bos|> goes first (masque's own tokenizers: yes, as
  // every training document starts with one; tokenizers without a
  // TemplateProcessing: no).
  std::vector<std::int32_t> ids;
  for (std::uint32_t id : tokenizer_.encode_for_model(prompt)) {
    ids.push_back(static_cast<std::int32_t>(id));
  }
  return ids;
}

GenerationResult ModelTextGenerator::run(const std::string& prompt, const GenerateOptions& options,
                                         const TextCallback& on_text,
                                         const Interventions* interventions) {
  return run_tokens(encode_prompt(prompt), options, on_text, interventions);
}

void ModelTextGenerator::check_options(const GenerateOptions& options) const {
  if (options.max_tokens < 0)
    throw InputError(cat("max tokens must be >= 0, got ", options.max_tokens));
  if (options.max_tokens >= max_seq_len_) {
    throw InputError(cat("max tokens ", options.max_tokens, " must be below the context length ",
                         max_seq_len_, " (lower --max-tokens)"));
  }
  for (const std::string& stop : options.stop) {
    if (stop.empty()) throw InputError("stop strings must not be empty");
  }
}

void ModelTextGenerator::fit_prompt(std::vector<std::int32_t>& prompt,
                                    const GenerateOptions& options) const {
  check_options(options);
  const int vocab = model_.config().vocab_size;
  for (std::int32_t id : prompt) {
    if (id < 0 || id >= vocab) {
      throw InputError(cat("prompt token id ", id, " is outside the model's vocabulary of ", vocab,
                           " (tokenizer and model do not match)"));
    }
  }
  if (prompt.empty()) throw InputError("empty prompt: give at least one token (e.g. <|bos|>)");
  // Too long for prompt + new tokens: keep the leading <|bos|>, the role
  // token of the first turn kept (<|system|>, <|user|> or <|assistant|>
  // before the cut), then the newest tokens, so the model never sees a
  // headless document or turn (docs/chat-format.md).
  const std::size_t room = static_cast<std::size_t>(max_seq_len_ - options.max_tokens);
  if (prompt.size() <= room) return;
  std::vector<std::int32_t> head;
  const auto bos = tokenizer_.special_id(kBosToken);
  if (bos && prompt.front() == static_cast<std::int32_t>(*bos)) head.push_back(prompt.front());
  const auto is_role = [&](std::int32_t id) {
    return id == special_or(kSystemToken) || id == special_or(kUserToken) ||
           id == special_or(kAssistantToken);
  };
  std::size_t cut = prompt.size() - (room - head.size());
  if (!is_role(prompt[cut]) && room > head.size() + 1) {
    for (std::size_t i = cut; i-- > head.size();) {
      if (is_role(prompt[i])) {
        head.push_back(prompt[i]);
        ++cut;  // one token fewer from the tail
        break;
      }
    }
  }
  head.insert(head.end(), prompt.begin() + static_cast<std::ptrdiff_t>(cut), prompt.end());
  prompt = std::move(head);
}

std::int32_t ModelTextGenerator::special_or(std::string_view token) const {
  const auto id = tokenizer_.special_id(token);
  return id ? static_cast<std::int32_t>(*id) : -1;
}

GenerationResult ModelTextGenerator::run_tokens(std::vector<std::int32_t> prompt,
                                                const GenerateOptions& options,
                                                const TextCallback& on_text,
                                                const Interventions* interventions) {
  fit_prompt(prompt, options);
  KvCache cache(model_);
  GenerationResult result = continue_cache(cache, prompt, options, on_text, interventions);
  result.prompt_tokens = std::move(prompt);
  return result;
}

GenerationResult ModelTextGenerator::continue_cache(KvCache& cache,
                                                    std::span<const std::int32_t> new_tokens,
                                                    const GenerateOptions& options,
                                                    const TextCallback& on_text,
                                                    const Interventions* interventions) {
  check_options(options);
  if (cache.length() + static_cast<int>(new_tokens.size()) + options.max_tokens > max_seq_len_) {
    throw InputError(cat("the conversation holds ", cache.length() + new_tokens.size(),
                         " tokens; with ", options.max_tokens,
                         " new ones it would exceed the context of ", max_seq_len_,
                         " (start a new conversation or lower max tokens)"));
  }
  const auto t0 = Clock::now();
  const std::span<const float> logits = engine_.append(cache, new_tokens, interventions, false);
  const double prefill = seconds_since(t0);
  KvCache* caches[1] = {&cache};
  GenerationResult result =
      std::move(decode(caches, logits, {options}, interventions, on_text).front());
  result.prompt_tokens.assign(new_tokens.begin(), new_tokens.end());
  result.prefill_seconds = prefill;
  return result;
}

std::vector<GenerationResult> ModelTextGenerator::run_batch(
    std::vector<std::vector<std::int32_t>> prompts, const std::vector<GenerateOptions>& options,
    const Interventions* interventions) {
  if (prompts.size() != options.size()) {
    throw InputError(
        cat("run_batch: ", prompts.size(), " prompts but ", options.size(), " option sets"));
  }
  if (prompts.empty()) return {};
  std::vector<KvCache> caches;
  caches.reserve(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    fit_prompt(prompts[i], options[i]);
    caches.emplace_back(model_);
  }
  std::vector<KvCache*> cache_ptrs;
  std::vector<SequenceStep> steps;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    cache_ptrs.push_back(&caches[i]);
    steps.push_back({&caches[i], prompts[i], false});
  }
  const auto t0 = Clock::now();
  const std::span<const float> logits = engine_.step(steps, interventions);
  const double prefill = seconds_since(t0);
  std::vector<GenerationResult> out = decode(cache_ptrs, logits, options, interventions);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].prompt_tokens = std::move(prompts[i]);
    out[i].prefill_seconds = prefill;
  }
  return out;
}

std::vector<GenerationResult> ModelTextGenerator::sample_n(std::vector<std::int32_t> prompt, int n,
                                                           const GenerateOptions& options,
                                                           const Interventions* interventions) {
  if (n < 1) throw InputError(cat("the number of continuations must be >= 1, got ", n));
  fit_prompt(prompt, options);
  const auto t0 = Clock::now();
  KvCache prefix(model_);
  const std::span<const float> prompt_logits = engine_.append(prefix, prompt, interventions);
  std::vector<float> logits;
  std::vector<KvCache> caches;
  std::vector<KvCache*> cache_ptrs;
  std::vector<GenerateOptions> opts(static_cast<std::size_t>(n), options);
  caches.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    logits.insert(logits.end(), prompt_logits.begin(), prompt_logits.end());
    opts[i].seed = options.seed + static_cast<std::uint64_t>(i);
    caches.emplace_back(model_);
    caches.back().copy_from(prefix);  // the fork: the prompt's keys and values, computed once
    cache_ptrs.push_back(&caches.back());
  }
  const double prefill = seconds_since(t0);
  std::vector<GenerationResult> out = decode(cache_ptrs, logits, opts, interventions);
  for (GenerationResult& r : out) {
    r.prompt_tokens = prompt;
    r.prefill_seconds = prefill;
  }
  return out;
}

std::vector<GenerationResult> ModelTextGenerator::decode(
    std::span<KvCache* const> caches, std::span<const float> first_logits,
    const std::vector<GenerateOptions>& options, const Interventions* interventions,
    const TextCallback& on_text) {
  const auto t0 = Clock::now();
  std::vector<SequenceDecoder> decoders;
  decoders.reserve(caches.size());
  const std::vector<int> eos_ids = model_.config().eos_token_ids();
  for (std::size_t i = 0; i < caches.size(); ++i) {
    decoders.emplace_back(tokenizer_, options[i], options[i].seed,
                          i == 0 ? on_text : TextCallback{}, eos_ids);
  }
  const std::size_t vocab = static_cast<std::size_t>(model_.config().vocab_size);
  std::vector<float> logits(first_logits.begin(), first_logits.end());
  std::vector<std::size_t> active(caches.size());  // the sequence of each row of `logits`
  for (std::size_t i = 0; i < caches.size(); ++i) active[i] = i;
  std::vector<std::int32_t> next_tokens;
  std::vector<SequenceStep> steps;
  std::vector<std::size_t> still;
  while (!active.empty()) {
    still.clear();
    next_tokens.clear();
    for (std::size_t r = 0; r < active.size(); ++r) {
      const std::size_t i = active[r];
      if (options[i].cancel && options[i].cancel()) {
        decoders[i].cancel();
        continue;
      }
      if (auto token = decoders[i].next(std::span<const float>(logits.data() + r * vocab, vocab))) {
        still.push_back(i);
        next_tokens.push_back(*token);
      }
    }
    if (still.empty()) break;
    steps.clear();
    for (std::size_t k = 0; k < still.size(); ++k) {
      // batch_row stays the sequence's index while others finish.
      steps.push_back({caches[still[k]], std::span<const std::int32_t>(&next_tokens[k], 1), true,
                       static_cast<int>(still[k])});
    }
    const std::span<const float> out = engine_.step(steps, interventions);
    logits.assign(out.begin(), out.end());
    active = still;
  }
  const double seconds = seconds_since(t0);
  std::vector<GenerationResult> results;
  for (SequenceDecoder& dec : decoders) {
    results.push_back(std::move(dec.result()));
    results.back().decode_seconds = seconds;
  }
  return results;
}

}  // namespace masque
