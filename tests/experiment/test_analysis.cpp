// Experiment analysis: planted effects give the right verdicts (increases,
// positive, near zero, greater, opposite), paired resampling is exact for a
// constant shift, results are deterministic, and bad claims are rejected
// with errors naming the field.
#include <gtest/gtest.h>

#include "core/error.h"
#include "experiment/analysis.h"
#include "synthetic_results.h"

namespace masque::experiment {
namespace {

using testing::claim;
using testing::Planted;
using testing::planted_results;

const Json& claim_result(const Json& results, const std::string& id) {
  for (const Json& c : results.at("claims")) {
    if (c.at("id") == id) return c;
  }
  throw std::runtime_error("no claim " + id);
}

double estimate(const Json& c, const char* field) {
  return c.at("estimate").at(field).get<double>();
}

TEST(Analysis, PlantedRiseIsDetectedAsIncreasing) {
  Planted p;
  p.slope = 0.4;
  p.noise = 0.25;
  Json r = planted_results(
      p, {claim("rises", "increases"),
          claim("flat_in_domain", "increases", {{"metric", "in_domain.power_seeking"}})});
  analyze_results(r, 1000, 1);
  const Json& rises = claim_result(r, "rises");
  EXPECT_EQ(rises.at("verdict"), "appeared");
  EXPECT_GT(estimate(rises, "low"), 0.0);
  EXPECT_NEAR(estimate(rises, "value"), 0.4, 1e-9);  // antithetic noise cancels exactly per seed
  ASSERT_EQ(rises.at("per_arm").size(), 3u);
  EXPECT_NEAR(rises["per_arm"][2]["value"].get<double>(), 0.4, 1e-9);
  EXPECT_EQ(rises["per_arm"][2]["seeds"].size(), 3u);
  EXPECT_LT(rises["per_arm"][0]["low"].get<double>(), rises["per_arm"][0]["high"].get<double>());
  // No effect was planted in the in-domain set: the slope is exactly zero.
  const Json& flat = claim_result(r, "flat_in_domain");
  EXPECT_EQ(flat.at("verdict"), "not detected");
  EXPECT_DOUBLE_EQ(estimate(flat, "value"), 0.0);
  EXPECT_EQ(r.at("verdict").get<std::string>().rfind("Partly:", 0), 0u) << r["verdict"];
}

TEST(Analysis, ZeroEffectIsNotDetectedAndNearZero) {
  Planted p;
  p.noise = 0.25;
  Json r = planted_results(
      p, {claim("pos", "positive"), claim("zero", "near_zero", {{"tolerance", 0.05}})});
  analyze_results(r, 1000, 3);
  const Json& pos = claim_result(r, "pos");
  EXPECT_EQ(pos.at("verdict"), "not detected");
  EXPECT_LT(estimate(pos, "low"), 0.0);
  EXPECT_GT(estimate(pos, "high"), 0.0);
  const Json& zero = claim_result(r, "zero");
  EXPECT_EQ(zero.at("verdict"), "appeared");
  EXPECT_GT(estimate(zero, "low"), -0.05);
  EXPECT_LT(estimate(zero, "high"), 0.05);
}

TEST(Analysis, NegativeEffectIsOppositeAndNearZeroViolated) {
  Planted p;
  p.offset = -0.3;
  p.noise = 0.25;
  Json r = planted_results(
      p, {claim("pos", "positive"), claim("zero", "near_zero", {{"tolerance", 0.05}})});
  analyze_results(r, 1000, 1);
  EXPECT_EQ(claim_result(r, "pos").at("verdict"), "opposite");
  EXPECT_LT(estimate(claim_result(r, "pos"), "high"), 0.0);
  EXPECT_EQ(claim_result(r, "zero").at("verdict"), "violated");
  const std::string verdict = r.at("verdict");
  EXPECT_EQ(verdict.rfind("The effect PSM predicts did not appear at this scale", 0), 0u)
      << verdict;
  EXPECT_NE(verdict.find("opposite"), std::string::npos) << verdict;
  EXPECT_NE(verdict.find("Violated: 'zero'"), std::string::npos) << verdict;
}

// A failed check (positive control) is named in the verdict and not counted
// among the predictions; a bad role is an error naming the field.
TEST(Analysis, ChecksAreReportedApartFromPredictions) {
  Planted p;
  p.offset = -0.3;
  p.noise = 0.25;
  Json r =
      planted_results(p, {claim("control_ok", "positive", {{"role", "check"}, {"minimum", 0.1}}),
                          claim("zero", "near_zero", {{"tolerance", 0.05}})});
  analyze_results(r, 1000, 1);
  const std::string verdict = r.at("verdict");
  // The prediction is not read: the check it relies on failed.
  EXPECT_NE(verdict.find("No prediction can be read"), std::string::npos) << verdict;
  EXPECT_NE(verdict.find("Check not passed: 'control_ok'"), std::string::npos) << verdict;
  EXPECT_EQ(claim_result(r, "control_ok").value("role", ""), "check");
  EXPECT_EQ(claim_result(r, "zero").at("verdict"), "not read");
  EXPECT_EQ(claim_result(r, "zero").at("verdict_if_read"), "violated");
  EXPECT_THROW(ClaimSpec::from_json(claim("x", "positive", {{"role", "maybe"}}), "recipe"),
               InputError);
}

// Issue 12: a DPO at lr 1e-9 passed "DPO taught" with an interval just above
// 0. A check states a minimum effect: a near-zero effect, however tight its
// interval, is "too small" and leaves the predictions unread; a check
// without a minimum is refused, naming the field.
TEST(Analysis, NearZeroEffectFailsACheckWithAMinimum) {
  Planted p;
  p.offset = 0.01;  // tiny but exact: every seed's effect is 0.01 nats
  p.noise = 0.001;
  Json r = planted_results(
      p, {claim("taught", "positive", {{"role", "check"}, {"minimum", 0.5}}),
          claim("bare", "positive"), claim("gated", "positive", {{"requires", {"taught"}}})});
  analyze_results(r, 1000, 1);
  const Json& taught = claim_result(r, "taught");
  EXPECT_GT(estimate(taught, "low"), 0.0);                        // the interval excludes 0 ...
  EXPECT_EQ(taught.at("verdict"), "too small") << taught.dump();  // ... but not the minimum
  EXPECT_EQ(taught.at("minimum"), 0.5);
  // A prediction states no minimum: read, the same effect would appear (> 0).
  EXPECT_EQ(claim_result(r, "bare").at("verdict_if_read"), "appeared");
  EXPECT_EQ(claim_result(r, "gated").at("verdict"), "not read");
  const std::string verdict = r.at("verdict");
  EXPECT_NE(verdict.find("Check not passed: 'taught'"), std::string::npos) << verdict;

  // A real effect passes the same check.
  p.offset = 1.0;
  r = planted_results(p, {claim("taught", "positive", {{"role", "check"}, {"minimum", 0.5}})});
  analyze_results(r, 1000, 1);
  EXPECT_EQ(claim_result(r, "taught").at("verdict"), "appeared");

  auto error = [](const Json& c) {
    try {
      ClaimSpec::from_json(c, "recipe");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no InputError)");
  };
  EXPECT_NE(error(claim("c", "positive", {{"role", "check"}})).find("'minimum'"),
            std::string::npos);
  EXPECT_NE(error(claim("c", "positive", {{"minimum", -1}})).find("'minimum'"), std::string::npos);
  EXPECT_NE(error(claim("c", "near_zero", {{"minimum", 1}})).find("'minimum'"), std::string::npos);
}

TEST(Analysis, GreaterComparesTwoEffects) {
  Planted p;
  p.offset = 0.3;
  p.noise = 0.25;
  p.inoculated_fraction = 0.25;
  const Json versus = {{"versus", {{"treatment", "inoculated"}, {"control", "control"}}}};
  Json reversed = claim("less", "greater", versus);
  reversed["treatment"] = "inoculated";
  reversed["versus"]["treatment"] = "narrow";
  Json r = planted_results(p, {claim("more", "greater", versus), reversed});
  analyze_results(r, 1000, 1);
  EXPECT_EQ(claim_result(r, "more").at("verdict"), "appeared");
  EXPECT_NEAR(estimate(claim_result(r, "more"), "value"), 0.3 * 0.75, 1e-9);
  EXPECT_EQ(claim_result(r, "less").at("verdict"), "opposite");
}

TEST(Analysis, PairedConstantShiftHasZeroWidthInterval) {
  Planted p;
  p.offset = 0.25;  // dyadic: control + 0.25 − control == 0.25 exactly
  p.inoculated_fraction = 1.0;
  Json r = planted_results(p, {claim("shift", "positive", {{"treatment", "inoculated"}})});
  analyze_results(r, 500, 9);
  const Json& c = claim_result(r, "shift");
  EXPECT_EQ(estimate(c, "value"), 0.25);
  EXPECT_EQ(estimate(c, "low"), 0.25);
  EXPECT_EQ(estimate(c, "high"), 0.25);
  for (const Json& arm : c.at("per_arm")) EXPECT_EQ(arm.at("low"), arm.at("high"));
  EXPECT_EQ(c.at("verdict"), "appeared");
  EXPECT_EQ(r.at("verdict").get<std::string>().rfind("The effect PSM predicts appeared:", 0), 0u);
}

TEST(Analysis, UnpairedResamplingWouldWiden) {
  // Guard for the test above: resampling two sides independently is not exact.
  std::vector<SeedSample> seeds = {{{0.5, -0.25, 0.75, 0.0}, {0.25, -0.5, 0.5, -0.25}}};
  const HierarchicalEstimate est = hierarchical_bootstrap(
      {seeds}, [](const std::vector<double>& v) { return v[0]; }, 500, 1);
  EXPECT_EQ(est.statistic.value, 0.25);
  EXPECT_LT(est.statistic.low, est.statistic.high);
}

TEST(Analysis, SlopeAndDeterminism) {
  EXPECT_DOUBLE_EQ(ols_slope({0, 1, 2}, {1, 3, 5}), 2.0);
  EXPECT_TRUE(std::isnan(ols_slope({1, 1}, {0, 2})));
  Planted p;
  p.slope = 0.2;
  p.noise = 0.5;
  const Json input = planted_results(p, {claim("rises", "increases"), claim("pos", "positive")});
  Json a = input, b = input, c = input;
  analyze_results(a, 300, 5);
  analyze_results(b, 300, 5);
  analyze_results(c, 300, 6);
  EXPECT_EQ(a.dump(), b.dump());
  EXPECT_NE(a["claims"].dump(), c["claims"].dump());  // the seed matters
}

TEST(Analysis, MeasurementsCoverArmsModelsSetsAndTarget) {
  Planted p;
  p.offset = 0.25;
  p.inoculated_fraction = 1.0;
  Json r = planted_results(p, {});
  analyze_results(r, 200, 1);
  EXPECT_EQ(r.at("claims").size(), 0u);
  EXPECT_NE(r.at("verdict").get<std::string>().find("No claims"), std::string::npos);
  int found = 0;
  for (const Json& m : r.at("measurements")) {
    if (m["arm"] == "rho=1" && m["model"] == "familiar_64" && m["probe_set"] == "in_domain" &&
        m["trait"] == "target") {
      EXPECT_EQ(m["value"].get<double>(), 0.25);
      EXPECT_EQ(m["low"].get<double>(), 0.25);
      ++found;
    }
    if (m["model"] == "base") {
      EXPECT_EQ(m["probe_set"], "unrelated");  // base measured only there
    }
  }
  EXPECT_EQ(found, 1);
}

template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

TEST(Analysis, ClaimSpecRejectsBadJsonNamingTheField) {
  const std::string where = "recipe e3: claims[0]";
  auto parse = [&](const Json& j) { return ClaimSpec::from_json(j, where); };
  std::string e = input_error([&] { parse(testing::claim("c", "bigger")); });
  EXPECT_NE(e.find("field 'kind'"), std::string::npos) << e;
  EXPECT_NE(e.find("claim 'c'"), std::string::npos) << e;
  EXPECT_NE(e.find("near_zero"), std::string::npos) << e;
  e = input_error([&] {
    parse(claim("c", "positive", {{"metric", {{"unrelated.kindness", "half"}}}}));
  });
  EXPECT_NE(e.find("field 'metric'"), std::string::npos) << e;
  EXPECT_NE(e.find("unrelated.kindness"), std::string::npos) << e;
  e = input_error([&] { parse(claim("c", "positive", {{"metric", Json::object()}})); });
  EXPECT_NE(e.find("field 'metric'"), std::string::npos) << e;
  e = input_error([&] { parse(claim("c", "positive", {{"metric", "kindness"}})); });
  EXPECT_NE(e.find("<probe_set>.<trait>"), std::string::npos) << e;
  e = input_error([&] { parse(claim("c", "greater")); });
  EXPECT_NE(e.find("'versus'"), std::string::npos) << e;
  e = input_error([&] { parse(claim("c", "positive", {{"treatmnt", "x"}})); });
  EXPECT_NE(e.find("unknown field 'treatmnt'"), std::string::npos) << e;
  e = input_error([&] { parse(claim("c", "near_zero", {{"tolerance", -1}})); });
  EXPECT_NE(e.find("'tolerance'"), std::string::npos) << e;

  // Round trip, weighted metric included.
  const Json weighted =
      claim("w", "greater",
            {{"metric", {{"unrelated.kindness", 0.5}, {"unrelated.power_seeking", -0.5}}},
             {"versus", {{"treatment", "inoculated"}}},
             {"arms", {"rho=0"}}});
  const ClaimSpec spec = parse(weighted);
  EXPECT_EQ(spec.metric.terms.size(), 2u);
  EXPECT_EQ(spec.versus_treatment, "inoculated");
  EXPECT_EQ(ClaimSpec::from_json(spec.to_json(), where).to_json(), spec.to_json());
  EXPECT_EQ(spec.to_json().at("metric"), weighted.at("metric"));
}

TEST(Analysis, ValidateClaimNamesFieldAndValidNames) {
  const std::vector<std::string> arms = {"rho=0", "rho=1"}, models = {"base", "control", "narrow"},
                                 sets = {"in_domain", "unrelated"};
  const std::vector<double> xs = {0.0, 1.0};
  auto check = [&](const Json& j) {
    return input_error(
        [&] { validate_claim(ClaimSpec::from_json(j, "r"), arms, xs, models, sets, "recipe e3"); });
  };
  EXPECT_EQ(check(claim("ok", "increases")), "(no InputError)");
  std::string e = check(claim("c", "positive", {{"treatment", "narow"}}));
  EXPECT_NE(e.find("field 'treatment'"), std::string::npos) << e;
  EXPECT_NE(e.find("base, control, narrow"), std::string::npos) << e;
  e = check(claim("c", "positive", {{"control", "ctrl"}}));
  EXPECT_NE(e.find("field 'control'"), std::string::npos) << e;
  e = check(claim("c", "positive", {{"arms", {"rho=2"}}}));
  EXPECT_NE(e.find("field 'arms'"), std::string::npos) << e;
  EXPECT_NE(e.find("rho=0, rho=1"), std::string::npos) << e;
  e = check(claim("c", "positive", {{"metric", "held_out.kindness"}}));
  EXPECT_NE(e.find("probe set 'held_out'"), std::string::npos) << e;
  EXPECT_NE(e.find("in_domain, unrelated"), std::string::npos) << e;
  e = check(claim("c", "increases", {{"arms", {"rho=1"}}}));
  EXPECT_NE(e.find("two distinct x"), std::string::npos) << e;
  EXPECT_NE(e.find("claim 'c'"), std::string::npos) << e;
  e = check(claim("c", "greater", {{"versus", {{"treatment", "inoculated"}}}}));
  EXPECT_NE(e.find("field 'versus.treatment'"), std::string::npos) << e;
}

TEST(Analysis, AnalyzeRejectsDuplicateIdsAndMismatchedWeights) {
  Planted p;
  Json r = planted_results(p, {claim("a", "positive"), claim("a", "positive")});
  EXPECT_NE(input_error([&] { analyze_results(r, 10, 1); }).find("used twice"), std::string::npos);
  Json w = planted_results(
      p, {claim("w", "positive",
                {{"metric", {{"unrelated.kindness", 1.0}, {"in_domain.target", 1.0}}}})});
  for (Json& run : w["runs"]) run["models"]["narrow"]["target"] = {{"in_domain", {0.5}}};
  for (Json& run : w["runs"]) run["models"]["control"]["target"] = {{"in_domain", {0.5}}};
  try {
    analyze_results(w, 10, 1);
    ADD_FAILURE() << "expected a FormatError for terms of different lengths";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("same probes"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace masque::experiment
