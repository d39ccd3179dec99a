// Experiment statistics (issue 12): the hierarchical bootstrap's coverage on
// synthetic data with a known mean (seed-level and probe-level noise), the
// small-sample expansion, Student's t table, near_zero claims as equivalence
// tests with a tolerance derived from a positive effect, and predictions not
// read when a check they rely on failed.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "experiment/analysis.h"
#include "experiment/examples_needed.h"
#include "synthetic_results.h"

namespace masque::experiment {
namespace {

using testing::claim;
using testing::Planted;
using testing::planted_results;

// One arm: `seeds` seeds, each with a random seed effect (sd seed_sd) around
// `mean` and `probes` probe values with noise sd probe_sd.
std::vector<SeedSample> synthetic_arm(Rng& rng, int seeds, int probes, double mean, double seed_sd,
                                      double probe_sd) {
  std::vector<SeedSample> arm;
  for (int s = 0; s < seeds; ++s) {
    const double seed_mean = mean + seed_sd * rng.normal();
    SeedSample sample;
    for (int i = 0; i < probes; ++i) sample.values.push_back(seed_mean + probe_sd * rng.normal());
    arm.push_back(std::move(sample));
  }
  return arm;
}

// Share of `trials` replications whose 95% interval covers the true mean.
double coverage(int seeds, int probes, double seed_sd, double probe_sd, bool expand, int trials,
                std::uint64_t seed) {
  Rng rng(seed);
  const double truth = 0.3;
  int covered = 0;
  for (int t = 0; t < trials; ++t) {
    const auto arm = synthetic_arm(rng, seeds, probes, truth, seed_sd, probe_sd);
    const HierarchicalEstimate est = hierarchical_bootstrap(
        {arm}, [](const std::vector<double>& v) { return v[0]; }, 400, seed + 17 * t, expand);
    covered += est.statistic.low <= truth && truth <= est.statistic.high;
  }
  return double(covered) / trials;
}

// Seeds dominate the variance (as in the recipes: each seed is a new world and
// pretraining). With 5 seeds the plain percentile interval misses the truth far
// more than 5% of the time (theory: P(|t_4| < 1.96·sqrt(4/5)) ≈ 0.85); the
// expanded interval covers about 95%.
TEST(AnalysisStats, FiveSeedsNeedTheSmallSampleExpansion) {
  const int trials = 400;
  const double plain = coverage(5, 30, 0.5, 0.3, false, trials, 11);
  const double expanded = coverage(5, 30, 0.5, 0.3, true, trials, 11);
  EXPECT_GT(plain, 0.76);
  EXPECT_LT(plain, 0.91);
  EXPECT_GT(expanded, 0.91);
  EXPECT_LE(expanded, 0.995);
  EXPECT_GT(expanded, plain + 0.04);
}

// With many seeds both intervals are about right.
TEST(AnalysisStats, ManySeedsCoverNominally) {
  const double plain = coverage(30, 10, 0.5, 0.3, false, 300, 5);
  const double expanded = coverage(30, 10, 0.5, 0.3, true, 300, 5);
  EXPECT_GT(plain, 0.88);
  EXPECT_GT(expanded, 0.90);
  EXPECT_LE(expanded, 0.99);
}

// Probe noise only (no seed effect): the second level of the bootstrap carries
// the uncertainty; resampling seeds alone would give a too-narrow interval,
// the hierarchical one covers (conservatively with the expansion).
TEST(AnalysisStats, ProbeNoiseIsResampledWithinSeeds) {
  const double expanded = coverage(5, 20, 0.0, 1.0, true, 300, 9);
  const double plain = coverage(5, 20, 0.0, 1.0, false, 300, 9);
  EXPECT_GT(plain, 0.88);
  EXPECT_GT(expanded, 0.95);
}

TEST(AnalysisStats, StudentTTable) {
  EXPECT_NEAR(student_t_quantile(4, 0.95), 2.776, 1e-3);
  EXPECT_NEAR(student_t_quantile(4, 0.90), 2.132, 1e-3);
  EXPECT_NEAR(student_t_quantile(60, 0.95), 2.000, 2e-3);  // Cornish-Fisher
  EXPECT_NEAR(student_t_quantile(120, 0.90), 1.658, 2e-3);
  EXPECT_TRUE(std::isnan(student_t_quantile(0, 0.95)));
}

const Json& claim_result(const Json& results, const std::string& id) {
  for (const Json& c : results.at("claims")) {
    if (c.at("id") == id) return c;
  }
  throw std::runtime_error("no claim " + id);
}

// The plain narrow SFT raises B by 1.0 at every arm; inoculated by a fraction.
// B after inoculation is "equivalent to zero" only when its 90% interval lies
// within half of the established plain effect.
TEST(AnalysisStats, EquivalenceWithDerivedTolerance) {
  Planted p;
  p.xs = {0.0};
  p.seeds = 5;
  p.offset = 1.0;
  p.noise = 0.25;
  const Json spill = claim("spill", "positive", {{"role", "check"}, {"minimum", 0.1}});
  const Json flat =
      claim("flat", "near_zero",
            {{"treatment", "inoculated"}, {"tolerance", {{"fraction", 0.5}, {"of", "spill"}}}});
  p.inoculated_fraction = 0.05;  // 0.05 nats: well inside ±0.5
  Json r = planted_results(p, {spill, flat});
  analyze_results(r, 1000, 1);
  const Json& f = claim_result(r, "flat");
  EXPECT_EQ(f.at("verdict"), "appeared") << f.dump();
  const double tol = f.at("tolerance_value").get<double>();
  EXPECT_GT(tol, 0.3);
  EXPECT_LE(tol, 0.5);
  EXPECT_GE(f["estimate90"]["low"].get<double>(), f["estimate"]["low"].get<double>());

  p.inoculated_fraction = 0.6;  // 0.6 nats: beyond half of the plain effect
  r = planted_results(p, {spill, flat});
  analyze_results(r, 1000, 1);
  EXPECT_EQ(claim_result(r, "flat").at("verdict"), "violated");

  // No spill-over at all: the check fails, there is nothing to be a fraction of.
  p.offset = 0.0;
  p.noise = 0.25;
  r = planted_results(p, {spill, flat});
  analyze_results(r, 1000, 1);
  const Json& unread = claim_result(r, "flat");
  EXPECT_EQ(unread.at("verdict"), "not read") << unread.dump();
  EXPECT_TRUE(unread.at("tolerance_value").is_null());
  EXPECT_NE(r.at("verdict").get<std::string>().find("No prediction can be read"), std::string::npos)
      << r["verdict"];
}

// A failed check makes every prediction that relies on it "not read" (by
// default every prediction relies on every check); `requires` narrows that.
TEST(AnalysisStats, FailedCheckLeavesPredictionsUnread) {
  Planted p;
  p.offset = 0.5;
  p.noise = 0.25;
  const Json failing = claim(
      "fails", "positive", {{"role", "check"}, {"minimum", 0.1}, {"metric", "in_domain.kindness"}});
  const Json passing = claim("passes", "positive", {{"role", "check"}, {"minimum", 0.1}});
  Json r = planted_results(p, {failing, passing, claim("gated", "positive"),
                               claim("own", "positive", {{"requires", {"passes"}}})});
  analyze_results(r, 1000, 1);
  const Json& gated = claim_result(r, "gated");
  EXPECT_EQ(gated.at("verdict"), "not read");
  EXPECT_EQ(gated.at("verdict_if_read"), "appeared");
  EXPECT_NE(gated.at("not_read_because").dump().find("fails"), std::string::npos);
  EXPECT_EQ(claim_result(r, "own").at("verdict"), "appeared");
  const std::string verdict = r.at("verdict");
  EXPECT_NE(verdict.find("Not read: 'gated'"), std::string::npos) << verdict;

  // requires must name a check; a derived tolerance must name a non-near-zero claim.
  auto error_of = [&](const std::vector<Json>& claims) {
    Json bad = planted_results(p, claims);
    try {
      analyze_results(bad, 10, 1);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no InputError)");
  };
  EXPECT_NE(error_of({claim("a", "positive", {{"requires", {"b"}}}), claim("b", "positive")})
                .find("field 'requires' names 'b'"),
            std::string::npos);
  EXPECT_NE(error_of({claim("z", "near_zero", {{"tolerance", {{"fraction", 0.5}, {"of", "z"}}}})})
                .find("derives from 'z'"),
            std::string::npos);
  EXPECT_THROW(ClaimSpec::from_json(
                   claim("p", "positive", {{"tolerance", {{"fraction", 0.5}, {"of", "x"}}}}), "r"),
               InputError);
  EXPECT_THROW(ClaimSpec::from_json(
                   claim("z", "near_zero", {{"tolerance", {{"fraction", 2.0}, {"of", "x"}}}}), "r"),
               InputError);
}

// Examples needed, relative to the base model: series "fast" shifts 0.5, 1.5
// and 3 nats at 16, 64 and 256 examples (reaches 1 nat halfway between 16 and
// 64 in log2: 32); "slow" never reaches it. The base model's own preference
// (+5 nats toward the profile) does not count: only the shift does.
TEST(AnalysisStats, ExamplesNeededRelativeToBase) {
  Json r = {{"arms", Json::array({{{"name", "w"}, {"x", 0}}})},
            {"probe_sets", {"taught"}},
            {"models", Json::array({{{"name", "base"}}})},
            {"runs", Json::array()}};
  const std::vector<std::pair<std::string, std::vector<double>>> series = {
      {"fast", {0.5, 1.5, 3.0}}, {"slow", {0.1, 0.2, 0.4}}};
  const std::vector<int> xs = {16, 64, 256};
  for (const auto& [name, shifts] : series) {
    for (int x : xs) {
      r["models"].push_back(
          {{"name", name + std::to_string(x)},
           {"x", x},
           {"series", name},
           {"set",
            {{"kind", "profile"}, {"profile", {{"kindness", 1.0}, {"power_seeking", -1.0}}}}}});
    }
  }
  Rng rng(3);
  for (int seed = 1; seed <= 5; ++seed) {
    Json run = {{"arm", "w"}, {"seed", seed}, {"models", Json::object()}};
    std::vector<double> kind(20), power(20);
    for (int i = 0; i < 20; ++i) kind[i] = 5 + rng.normal(), power[i] = -5 + rng.normal();
    run["models"]["base"]["probes"]["taught"] = {{"kindness", kind}, {"power_seeking", power}};
    for (const auto& [name, shifts] : series) {
      for (std::size_t k = 0; k < xs.size(); ++k) {
        std::vector<double> mk = kind, mp = power;
        for (int i = 0; i < 20; ++i) {
          const double u = (i % 2 ? 0.2 : -0.2);  // antithetic: the mean shift is exact
          mk[i] += shifts[k] + u;
          mp[i] -= shifts[k] - u;
        }
        run["models"][name + std::to_string(xs[k])]["probes"]["taught"] = {{"kindness", mk},
                                                                           {"power_seeking", mp}};
      }
    }
    r["runs"].push_back(run);
  }
  const Json needed = examples_needed(r, 500, 1);
  ASSERT_EQ(needed.size(), 2u) << needed.dump();
  EXPECT_EQ(needed[0]["series"], "fast");
  EXPECT_NEAR(needed[0]["value"].get<double>(), 32.0, 1e-9);
  EXPECT_LE(needed[0]["low"].get<double>(), 32.0);
  EXPECT_GE(needed[0]["high"].get<double>(), 32.0);
  EXPECT_LT(needed[0]["high"].get<double>(), 64.0);
  EXPECT_EQ(needed[1]["series"], "slow");
  EXPECT_TRUE(needed[1]["value"].is_null());
  EXPECT_TRUE(needed[1]["high"].is_null());
  EXPECT_DOUBLE_EQ(needed[0]["threshold"].get<double>(), kNeededNats);
}

}  // namespace
}  // namespace masque::experiment
