// The ideal Bayesian observer: exact posterior predictive of a trait's next
// shown pole under the world's generative model (see ideal_observer.h).
#include "world/ideal_observer.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "world/copula.h"

namespace masque::world {
namespace {

constexpr int kMaxDims = 4;
constexpr double kGridHalfWidth = 8.0;

// Streaming log-sum-exp.
struct LogSum {
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  void add(double x) {
    if (x <= max) {
      sum += std::exp(x - max);
    } else {
      sum = sum * std::exp(max - x) + 1.0;
      max = x;
    }
  }
  double value() const { return max + std::log(sum); }
};

// log sigmoid(x), stable for large |x|.
double log_sigmoid(double x) {
  return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

}  // namespace

void PoleCounts::add(const Poles& poles) {
  for (int t = 0; t < kNumTraits; ++t) {
    if (poles[t] > 0) ++positive[t];
    if (poles[t] < 0) ++negative[t];
  }
}

void PoleCounts::add(Trait trait, int pole, int times) {
  (pole > 0 ? positive : negative)[static_cast<int>(trait)] += times;
}

IdealObserver::IdealObserver(const WorldSpec& spec, int nodes_per_dim)
    : spec_(spec), matrix_(spec.correlation_matrix()), nodes_(nodes_per_dim) {
  if (nodes_ < 0 || nodes_ == 1) {
    throw InputError(cat("ideal observer: nodes_per_dim must be 0 or >= 2, got ", nodes_));
  }
}

std::vector<Trait> IdealObserver::relevant_traits(const PoleCounts& evidence, Trait query) const {
  // The query's component in the graph of nonzero correlations.
  bool in_component[kNumTraits] = {};
  std::vector<int> stack = {static_cast<int>(query)};
  in_component[static_cast<int>(query)] = true;
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    for (int j = 0; j < kNumTraits; ++j) {
      if (!in_component[j] && matrix_[i * kNumTraits + j] != 0.0) {
        in_component[j] = true;
        stack.push_back(j);
      }
    }
  }
  std::vector<Trait> out = {query};
  for (Trait t : kAllTraits) {
    const int i = static_cast<int>(t);
    if (t != query && in_component[i] && evidence.positive[i] + evidence.negative[i] > 0) {
      out.push_back(t);
    }
  }
  return out;
}

std::pair<double, double> IdealObserver::log_masses(const PoleCounts& evidence, Trait query) const {
  const std::vector<Trait> traits = relevant_traits(evidence, query);
  const int d = static_cast<int>(traits.size());
  if (d > kMaxDims) {
    throw InputError(cat("ideal observer: the query '", trait_name(query), "' depends on ", d,
                         " correlated traits with evidence; at most ", kMaxDims, " are supported"));
  }
  // R restricted to the relevant traits (top-left block), identity elsewhere:
  // the Cholesky factor's top-left block is then the block's own factor.
  TraitMatrix sub{};
  for (int i = 0; i < kNumTraits; ++i) sub[i * kNumTraits + i] = 1.0;
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j < d; ++j) {
      sub[i * kNumTraits + j] = matrix_[int(traits[i]) * kNumTraits + int(traits[j])];
    }
  }
  const TraitMatrix factor = *cholesky(sub);
  static constexpr int kDefaultNodes[kMaxDims + 1] = {0, 2001, 161, 61, 31};
  const int m = nodes_ > 0 ? nodes_ : kDefaultNodes[d];
  const double h = 2.0 * kGridHalfWidth / (m - 1);
  std::vector<double> grid(m), log_phi(m);
  for (int k = 0; k < m; ++k) {
    grid[k] = -kGridHalfWidth + h * k;
    log_phi[k] = -0.5 * grid[k] * grid[k];  // constants cancel in the ratio
  }
  const double s = spec_.expression_sharpness;
  int pos[kMaxDims], neg[kMaxDims];
  for (int i = 0; i < d; ++i) {
    pos[i] = evidence.positive[int(traits[i])];
    neg[i] = evidence.negative[int(traits[i])];
  }
  LogSum plus, minus;
  int index[kMaxDims] = {};
  std::size_t total = 1;
  for (int i = 0; i < d; ++i) total *= std::size_t(m);
  for (std::size_t point = 0; point < total; ++point) {
    double log_w = 0;
    double log_p_query = 0, log_q_query = 0;
    for (int i = 0; i < d; ++i) {
      log_w += log_phi[index[i]];
      double z = 0;
      for (int j = 0; j <= i; ++j) z += factor[i * kNumTraits + j] * grid[index[j]];
      const double value = 2.0 * normal_cdf(z) - 1.0;
      const double log_p = log_sigmoid(s * value), log_q = log_sigmoid(-s * value);
      log_w += pos[i] * log_p + neg[i] * log_q;
      if (i == 0) log_p_query = log_p, log_q_query = log_q;
    }
    plus.add(log_w + log_p_query);
    minus.add(log_w + log_q_query);
    for (int i = d - 1; i >= 0; --i) {  // odometer
      if (++index[i] < m) break;
      index[i] = 0;
    }
  }
  return {plus.value(), minus.value()};
}

double IdealObserver::log_odds(const PoleCounts& evidence, Trait query) const {
  const auto [plus, minus] = log_masses(evidence, query);
  return plus - minus;
}

double IdealObserver::p_positive(const PoleCounts& evidence, Trait query) const {
  return 1.0 / (1.0 + std::exp(-log_odds(evidence, query)));
}

}  // namespace masque::world
