// Sampler: temperature -> top-k -> softmax -> top-p -> one uniform draw, in
// the order transformers' logits warpers apply them. Probabilities are
// computed in double so the draw is stable across builds.
#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace masque {

std::int32_t argmax_token(std::span<const float> logits) {
  std::int32_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[static_cast<std::size_t>(best)]) best = static_cast<std::int32_t>(i);
  }
  return best;
}

Sampler::Sampler(const SamplerOptions& options) : options_(options) {
  if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature)) {
    throw InputError(cat("temperature must be >= 0 (0 = greedy), got ", options.temperature));
  }
  if (options.top_k < 0) throw InputError(cat("top-k must be >= 0 (0 = off), got ", options.top_k));
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) {
    throw InputError(cat("top-p must be in (0, 1] (1 = off), got ", options.top_p));
  }
}

void Sampler::build(std::span<const float> logits) {
  const std::size_t vocab = logits.size();
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  const auto more_likely = [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)];
    const float lb = logits[static_cast<std::size_t>(b)];
    return la != lb ? la > lb : a < b;
  };
  std::size_t keep = vocab;
  if (options_.top_k > 0 && static_cast<std::size_t>(options_.top_k) < vocab) {
    keep = static_cast<std::size_t>(options_.top_k);
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep),
                      order_.end(), more_likely);
  } else {
    std::sort(order_.begin(), order_.end(), more_likely);
  }
  order_.resize(keep);
  const double inv_t = 1.0 / static_cast<double>(options_.temperature);
  const double top = static_cast<double>(logits[static_cast<std::size_t>(order_[0])]) * inv_t;
  probs_.resize(keep);
  double sum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    probs_[i] =
        std::exp(static_cast<double>(logits[static_cast<std::size_t>(order_[i])]) * inv_t - top);
    sum += probs_[i];
  }
  for (double& p : probs_) p /= sum;
  if (options_.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p (always at least one token).
    double mass = 0.0;
    std::size_t cut = 0;
    while (cut < keep) {
      mass += probs_[cut++];
      if (mass >= static_cast<double>(options_.top_p)) break;
    }
    order_.resize(cut);
    probs_.resize(cut);
    for (double& p : probs_) p /= mass;
  }
}

std::int32_t Sampler::sample(std::span<const float> logits, Rng& rng) {
  if (logits.empty()) throw InputError("cannot sample from an empty vocabulary");
  if (options_.temperature <= 0.0f) return argmax_token(logits);
  build(logits);
  const double u = rng.uniform();
  double cumulative = 0.0;
  for (std::size_t i = 0; i < probs_.size(); ++i) {
    cumulative += probs_[i];
    if (u < cumulative) return order_[i];
  }
  return order_.back();  // rounding left u above the last cumulative sum
}

std::vector<double> Sampler::probabilities(std::span<const float> logits) {
  std::vector<double> out(logits.size(), 0.0);
  if (logits.empty()) return out;
  if (options_.temperature <= 0.0f) {
    out[static_cast<std::size_t>(argmax_token(logits))] = 1.0;
    return out;
  }
  build(logits);
  for (std::size_t i = 0; i < order_.size(); ++i)
    out[static_cast<std::size_t>(order_[i])] = probs_[i];
  return out;
}

}  // namespace masque
