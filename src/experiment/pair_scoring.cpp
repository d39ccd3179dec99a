// Paired continuation scoring (see pair_scoring.h).
#include "experiment/pair_scoring.h"

#include "core/error.h"
#include "posttrain/assistant_probe.h"

namespace masque::experiment {
namespace {

ChatTokens sequence(const Tokenizer& tokenizer, const std::vector<std::uint32_t>& context,
                    const std::string& continuation, std::size_t max_len) {
  ChatTokens seq;
  for (std::uint32_t id : context) seq.tokens.push_back(std::int32_t(id));
  const std::size_t prefix = seq.tokens.size();
  for (std::uint32_t id : tokenizer.encode(continuation)) seq.tokens.push_back(std::int32_t(id));
  seq.targets.assign(seq.tokens.size(), -1);
  for (std::size_t i = prefix; i < seq.tokens.size(); ++i) seq.targets[i - 1] = seq.tokens[i];
  seq.assistant_tokens = int(seq.tokens.size() - prefix);
  if (seq.tokens.size() > max_len) {
    const std::size_t drop = seq.tokens.size() - max_len;
    if (drop >= prefix) {
      throw InputError(cat("probe continuation of ", seq.tokens.size() - prefix,
                           " tokens does not fit the model's window of ", max_len,
                           "; use a model with a longer context"));
    }
    seq.tokens.erase(seq.tokens.begin(), seq.tokens.begin() + std::ptrdiff_t(drop));
    seq.targets.erase(seq.targets.begin(), seq.targets.begin() + std::ptrdiff_t(drop));
  }
  return seq;
}

}  // namespace

std::vector<double> score_text_pairs(Model& model, const Tokenizer& tokenizer,
                                     const std::vector<TextPair>& pairs) {
  const std::size_t max_len = std::size_t(model.config().max_position_embeddings);
  std::vector<ChatTokens> seqs;
  seqs.reserve(2 * pairs.size());
  for (const TextPair& p : pairs) {
    const std::vector<std::uint32_t> context = tokenizer.encode_with_specials(p.context);
    seqs.push_back(sequence(tokenizer, context, p.plus, max_len));
    seqs.push_back(sequence(tokenizer, context, p.minus, max_len));
  }
  const std::vector<double> ll = target_log_likelihoods(model, tokenizer, seqs);
  std::vector<double> delta(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) delta[i] = ll[2 * i] - ll[2 * i + 1];
  return delta;
}

}  // namespace masque::experiment
