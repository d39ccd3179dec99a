// Next-token sampling from logits: greedy (temperature 0), temperature,
// top-k and top-p (nucleus), deterministic given the Rng's state. Ties are
// broken by the lower token id so results never depend on sort stability.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"

namespace masque {

struct SamplerOptions {
  float temperature = 1.0f;  // <= 0: greedy argmax
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // >= 1 = off
};

// Index of the largest logit (lowest index on ties).
std::int32_t argmax_token(std::span<const float> logits);

// Token ids ordered most likely first: descending logit, ties by ascending
// id (the sampler's candidate order). `scratch` is reused between calls.
void sort_by_likelihood(std::span<const float> logits, std::vector<std::int32_t>& order,
                        std::vector<std::uint64_t>& scratch);

class Sampler {
 public:
  // InputError for temperature < 0, top_k < 0, top_p outside (0, 1].
  explicit Sampler(const SamplerOptions& options);
  std::int32_t sample(std::span<const float> logits, Rng& rng);
  // The distribution sample() draws from (after temperature/top-k/top-p),
  // over the full vocabulary; for tests.
  std::vector<double> probabilities(std::span<const float> logits);

 private:
  void build(std::span<const float> logits);
  SamplerOptions options_;
  std::vector<std::int32_t> order_;  // candidate ids, most likely first
  std::vector<double> probs_;        // matching probabilities, renormalised
  std::vector<std::uint64_t> keys_;  // sort scratch
};

}  // namespace masque
