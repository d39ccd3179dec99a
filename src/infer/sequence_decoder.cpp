// SequenceDecoder (see sequence_decoder.h).
#include "infer/sequence_decoder.h"

#include <algorithm>

#include "core/error.h"

namespace masque {
namespace {

SamplerOptions sampler_options(const GenerateOptions& o) {
  SamplerOptions s;
  s.temperature = o.temperature;
  s.top_k = o.top_k;
  s.top_p = o.top_p;
  return s;
}

// Length of the longest prefix of `bytes` that ends on a complete UTF-8
// character (an incomplete multi-byte sequence at the end is held back).
std::size_t complete_utf8_prefix(const std::string& bytes) {
  const std::size_t n = bytes.size();
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

SequenceDecoder::SequenceDecoder(const Tokenizer& tokenizer, const GenerateOptions& options,
                                 std::uint64_t seed, TextCallback on_text,
                                 std::span<const int> model_eos_ids)
    : tokenizer_(tokenizer),
      options_(options),
      sampler_(sampler_options(options)),
      rng_(seed),
      on_text_(std::move(on_text)) {
  for (std::string_view special : {kEosToken, kEndTurnToken, kBosToken}) {
    if (auto id = tokenizer_.special_id(special))
      end_ids_.push_back(static_cast<std::int32_t>(*id));
  }
  for (const int id : model_eos_ids) end_ids_.push_back(static_cast<std::int32_t>(id));
  result_.finish_reason = "length";
  if (options_.max_tokens == 0) finish("length");
}

std::optional<std::int32_t> SequenceDecoder::next(std::span<const float> logits) {
  if (done_) return std::nullopt;
  const std::int32_t token = sampler_.sample(logits, rng_);
  if (!options_.ignore_eos &&
      std::find(end_ids_.begin(), end_ids_.end(), token) != end_ids_.end()) {
    result_.ended_by_token = true;
    finish("stop");
    return std::nullopt;
  }
  result_.tokens.push_back(token);
  // Models may pad vocab_size beyond the tokenizer (HF checkpoints often
  // round to a multiple of 64). Such ids have no text; HF decodes them to
  // nothing, which hides that the model produced them. masque writes the
  // placeholder <|unused:ID|> instead (docs/model.md).
  if (static_cast<std::uint32_t>(token) < tokenizer_.vocab_size()) {
    text_ += tokenizer_.token_text(static_cast<std::uint32_t>(token));
  } else {
    text_ += cat("<|unused:", token, "|>");
  }
  // A stop string may start in earlier bytes; search the tail that could hold it.
  for (const std::string& stop : options_.stop) {
    const std::size_t from = emitted_ >= stop.size() ? emitted_ - stop.size() : 0;
    const std::size_t pos = text_.find(stop, from);
    if (pos != std::string::npos && (!stop_at_ || pos < *stop_at_)) stop_at_ = pos;
  }
  if (stop_at_) {
    finish("stop");
    return std::nullopt;
  }
  if (on_text_) {
    std::size_t ready = complete_utf8_prefix(text_);
    ready -= std::min(ready, held_for_stop(text_.substr(0, ready), emitted_, options_.stop));
    if (ready > emitted_) {
      on_text_(text_.substr(emitted_, ready - emitted_));
      emitted_ = ready;
    }
  }
  if (static_cast<int>(result_.tokens.size()) >= options_.max_tokens) {
    finish("length");
    return std::nullopt;
  }
  return token;
}

void SequenceDecoder::cancel() {
  if (!done_) finish("cancelled");
}

void SequenceDecoder::finish(const char* reason) {
  done_ = true;
  result_.finish_reason = reason;
  if (stop_at_) text_.resize(*stop_at_);
  if (on_text_ && text_.size() > emitted_) on_text_(text_.substr(emitted_));
  emitted_ = text_.size();
  result_.text = text_;
}

}  // namespace masque
