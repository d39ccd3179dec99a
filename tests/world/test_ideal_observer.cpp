// The ideal observer (world/ideal_observer.h) on tiny worlds: against a
// brute-force integral over the latent values, against sampling the world's
// own generator, and exact limits (rho = 0: no link; rho = 1: B behaves as A).
// The inference probes' ideal shifts: tests/posttrain/test_inference_probe.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "world/copula.h"
#include "world/ideal_observer.h"
#include "world/world_v2.h"

namespace masque::world {
namespace {

WorldSpec tiny_spec(double rho) {
  WorldSpec spec;
  spec.version = 2;
  spec.characters = 4;
  spec.ai_fraction = 0;
  spec.correlations = {{Trait::Kindness, Trait::PowerSeeking, rho}};
  return spec;
}

double inverse_normal_cdf(double p) {
  double lo = -12, hi = 12;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (normal_cdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// P(B+ | a_plus, a_minus shown poles of A) by the midpoint rule over the
// latent VALUES (u_A, u_B) in (-1, 1)^2 with the Gaussian copula density:
// an independent discretization of the same generative model.
double brute_force_p_b(const WorldSpec& spec, int a_plus, int a_minus, int cells) {
  const double r =
      spec.correlation_matrix()[int(Trait::Kindness) * kNumTraits + int(Trait::PowerSeeking)];
  const double s = spec.expression_sharpness;
  std::vector<double> z(cells), p(cells);
  for (int i = 0; i < cells; ++i) {
    const double u = -1.0 + (i + 0.5) * 2.0 / cells;
    z[i] = inverse_normal_cdf((u + 1.0) / 2.0);
    p[i] = positive_pole_probability(u, s);
  }
  double num = 0, den = 0;
  for (int i = 0; i < cells; ++i) {
    const double like = std::pow(p[i], a_plus) * std::pow(1 - p[i], a_minus);
    for (int j = 0; j < cells; ++j) {
      // Copula density φ2(z; r) / (φ(z_a) φ(z_b)) up to a constant.
      const double q = 1 - r * r;
      const double dens =
          std::exp(-(r * r * (z[i] * z[i] + z[j] * z[j]) - 2 * r * z[i] * z[j]) / (2 * q));
      num += dens * like * p[j];
      den += dens * like;
    }
  }
  return num / den;
}

TEST(IdealObserver, MatchesBruteForceIntegralOverLatentValues) {
  for (double rho : {0.5, -0.9}) {
    const WorldSpec spec = tiny_spec(rho);
    const IdealObserver observer(spec);
    for (auto [plus, minus] : {std::pair{0, 1}, {0, 3}, {2, 1}, {0, 6}}) {
      PoleCounts evidence;
      evidence.add(Trait::Kindness, 1, plus);
      evidence.add(Trait::Kindness, -1, minus);
      EXPECT_NEAR(observer.p_positive(evidence, Trait::PowerSeeking),
                  brute_force_p_b(spec, plus, minus, 1200), 2e-3)
          << "rho " << rho << " evidence +" << plus << " -" << minus;
    }
  }
}

TEST(IdealObserver, MatchesSamplingTheGenerator) {
  // Draw one-off characters and their answers with the world's own code;
  // keep those whose two context answers showed A = -1 twice and never B;
  // the share of B+ among the next answers that show B is the posterior
  // predictive the observer computes.
  const WorldSpec spec = tiny_spec(0.9);
  const World world = World::build(spec, 1);
  Rng rng(123);
  int kept = 0, b_plus = 0;
  for (int i = 0; i < 400000; ++i) {
    const Persona p = draw_one_off(world, rng);
    const Poles first = draw_poles_v2(p.traits, spec, true, rng);
    const Poles second = draw_poles_v2(p.traits, spec, true, rng);
    const Poles next = draw_poles_v2(p.traits, spec, true, rng);
    const int a = int(Trait::Kindness), b = int(Trait::PowerSeeking);
    if (first[a] != -1 || second[a] != -1 || first[b] != 0 || second[b] != 0 || next[b] == 0)
      continue;
    ++kept;
    b_plus += next[b] > 0;
  }
  ASSERT_GT(kept, 2000);
  PoleCounts evidence;
  evidence.add(Trait::Kindness, -1, 2);
  const double expected = IdealObserver(spec).p_positive(evidence, Trait::PowerSeeking);
  const double share = double(b_plus) / kept;
  const double se = std::sqrt(expected * (1 - expected) / kept);
  EXPECT_NEAR(share, expected, 4 * se) << "kept " << kept;
  EXPECT_LT(expected, 0.4);  // rho = +0.9: unkind evidence predicts deference
}

TEST(IdealObserver, ExactLimits) {
  PoleCounts evidence;
  evidence.add(Trait::Kindness, -1, 4);
  evidence.add(Trait::Kindness, 1, 1);
  // rho = 0: A says nothing about B, whatever the evidence.
  EXPECT_NEAR(IdealObserver(tiny_spec(0)).log_odds(evidence, Trait::PowerSeeking), 0, 1e-12);
  // No evidence: every trait is + or - with equal odds.
  EXPECT_NEAR(IdealObserver(tiny_spec(0.9)).log_odds(PoleCounts(), Trait::PowerSeeking), 0, 1e-9);
  // rho = 1: B's value is A's, so B is predicted exactly as A is.
  const IdealObserver same(tiny_spec(1.0));
  EXPECT_NEAR(same.log_odds(evidence, Trait::PowerSeeking),
              same.log_odds(evidence, Trait::Kindness), 1e-6);
  // rho = -1 mirrors it.
  EXPECT_NEAR(IdealObserver(tiny_spec(-1.0)).log_odds(evidence, Trait::PowerSeeking),
              -same.log_odds(evidence, Trait::Kindness), 1e-6);
  // Evidence on an uncorrelated trait is ignored.
  PoleCounts other = evidence;
  other.add(Trait::Formality, 1, 5);
  EXPECT_EQ(same.relevant_traits(other, Trait::PowerSeeking).size(), 2u);
}

}  // namespace
}  // namespace masque::world
