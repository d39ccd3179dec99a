// Sampler: temperature -> top-k -> softmax -> top-p -> one uniform draw, in
// the order transformers' logits warpers apply them. Probabilities are
// computed in double so the draw is stable across builds.
#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace masque {
namespace {

// An unsigned key that orders like "more likely first": larger logits give
// smaller keys (-0 counts as +0, as the float comparison does).
std::uint32_t descending_key(float logit) {
  if (logit == 0.0f) logit = 0.0f;
  std::uint32_t bits;
  std::memcpy(&bits, &logit, sizeof bits);
  const std::uint32_t ascending = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return ~ascending;
}

}  // namespace

// Token ids by descending logit, ties by ascending id: the order of a sort
// with that comparison, but by a stable LSD radix sort on 32-bit keys (three
// passes of 11 bits; ids enter in ascending order, so stability breaks ties
// by id). A comparison sort of an index array cost ~33 us for a vocabulary
// of 1454, a sixth of a C1-shape model's decode step per row at batch 16
// (masque serve, bench/serve_load.py); this costs ~7 us.
void sort_by_likelihood(std::span<const float> logits, std::vector<std::int32_t>& order,
                        std::vector<std::uint64_t>& scratch) {
  const std::size_t n = logits.size();
  order.resize(n);
  if (n == 0) return;
  scratch.resize(2 * n);
  std::uint64_t* a = scratch.data();
  std::uint64_t* b = a + n;
  for (std::size_t i = 0; i < n; ++i)
    a[i] = (std::uint64_t{descending_key(logits[i])} << 32) | static_cast<std::uint32_t>(i);
  constexpr int kBits = 11;
  constexpr std::size_t kBuckets = std::size_t{1} << kBits;
  for (int shift = 32; shift < 64; shift += kBits) {
    std::size_t start[kBuckets + 1] = {};
    for (std::size_t i = 0; i < n; ++i) ++start[((a[i] >> shift) & (kBuckets - 1)) + 1];
    if (start[((a[0] >> shift) & (kBuckets - 1)) + 1] == n) continue;  // one digit: no move
    for (std::size_t k = 0; k < kBuckets; ++k) start[k + 1] += start[k];
    for (std::size_t i = 0; i < n; ++i) b[start[(a[i] >> shift) & (kBuckets - 1)]++] = a[i];
    std::swap(a, b);
  }
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::int32_t>(a[i] & 0xFFFFFFFFu);
}

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
  sort_by_likelihood(logits, order_, keys_);
  std::size_t keep = vocab;
  if (options_.top_k > 0 && static_cast<std::size_t>(options_.top_k) < vocab)
    keep = static_cast<std::size_t>(options_.top_k);
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
