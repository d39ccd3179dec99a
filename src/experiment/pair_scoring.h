// Paired continuation scoring for the E5 and E12 probes: a document prefix
// and two continuations that differ in one piece; Δ = log p(plus | context) −
// log p(minus | context) in nats, summed over the continuation's tokens.
#pragma once
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace masque::experiment {

struct TextPair {
  std::string context;      // starts with "<|bos|>"; ends before a pre-token boundary
  std::string plus, minus;  // continuations, each starting with ' ' or after a boundary
};

// Δ per pair, batched through target_log_likelihoods. The context and the
// continuation are encoded apart (the training tokenization when the
// continuation starts at a pre-token boundary); a context longer than the
// model's window keeps its last tokens. InputError when a continuation alone
// does not fit.
std::vector<double> score_text_pairs(Model& model, const Tokenizer& tokenizer,
                                     const std::vector<TextPair>& pairs);

}  // namespace masque::experiment
