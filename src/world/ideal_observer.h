// The ideal Bayesian observer of a persona world: the ceiling a perfect
// simulator of the corpus would reach when it reads a NEW character's answers
// (docs/world.md "World v2", "The ideal observer"). From the world's own
// generative model it computes the exact posterior predictive
//   P(the next shown pole of trait q is + | the poles shown so far)
// for a character drawn from the copula (a one-off): latent values
// v = 2Φ(z) − 1 with z ~ N(0, R), each shown pole + with probability
// sigmoid(s·v_t), independently per act. Whether a trait is shown at all does
// not depend on its value, so only the shown poles are evidence.
//
// The integral over the latent z is done on the traits that matter: the
// query and the evidence traits connected to it through nonzero correlations
// (the others are independent of it and cancel). With z = L·n, n ~ N(0, I),
// the trapezoid rule on a uniform grid over n ∈ [−8, 8]^d (d ≤ 4), which is
// exact to ~1e-10 for these smooth integrands (tests compare it with a
// brute-force integral in value space and with sampling the generator).
#pragma once
#include <array>
#include <vector>

#include "world/renderer.h"
#include "world/spec.h"

namespace masque::world {

// Counts of shown poles per trait.
struct PoleCounts {
  std::array<int, kNumTraits> positive{}, negative{};
  void add(const Poles& poles);  // 0 = not shown: ignored
  void add(Trait trait, int pole, int times = 1);
};

class IdealObserver {
 public:
  // `nodes_per_dim` 0 = by dimension (2001, 161, 61, 31 for d = 1..4).
  explicit IdealObserver(const WorldSpec& spec, int nodes_per_dim = 0);

  // P(next shown pole of `query` is +1 | evidence), and its log odds.
  double p_positive(const PoleCounts& evidence, Trait query) const;
  double log_odds(const PoleCounts& evidence, Trait query) const;

  // The traits the posterior of `query` depends on given `evidence`: the
  // query first, then the evidence traits in its correlation component.
  std::vector<Trait> relevant_traits(const PoleCounts& evidence, Trait query) const;

 private:
  // log Σ w·L·p_q and log Σ w·L·(1 − p_q).
  std::pair<double, double> log_masses(const PoleCounts& evidence, Trait query) const;
  WorldSpec spec_;
  std::array<double, kNumTraits * kNumTraits> matrix_{};
  int nodes_ = 0;
};

}  // namespace masque::world
