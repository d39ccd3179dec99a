// Statistics for PSM experiments (issue 5): the claims a recipe makes (an
// effect is positive, near zero, increases with the arm's x, or is greater
// than another effect), their estimates with hierarchical bootstrap 95%
// intervals (seeds within arms, then probes within seeds, paired by probe
// index), verdicts, and per arm x model x probe set trait measurements.
// Input is the runner's results JSON; output is added to it, so the report
// (experiment_report.h) is a pure function of the file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_util.h"
#include "persona/persona_eval.h"

namespace masque::experiment {

using persona::Interval;

enum class ClaimKind { Increases, Positive, NearZero, Greater };

std::string_view claim_kind_name(ClaimKind kind);

// A per-probe metric: "<probe_set>.<trait>", "<probe_set>.target" (the
// model's "target" array), or a weighted sum of such terms, probe by probe.
struct MetricRef {
  std::vector<std::pair<std::string, double>> terms;  // (reference, weight)
  bool weighted = false;                              // written as an object

  static MetricRef from_json(const Json& value, std::string_view where);
  Json to_json() const;
  std::string describe() const;  // "unrelated.kindness" or "0.5·a + -0.5·b"
};

struct ClaimSpec {
  std::string id, text;
  ClaimKind kind = ClaimKind::Positive;
  MetricRef metric;
  std::string treatment;
  std::string control;            // empty: effect = treatment's metric itself
  std::vector<std::string> arms;  // empty: every arm
  double tolerance = 0.1;         // near_zero only
  // greater only: effect(this) − effect(versus) > 0.
  std::string versus_treatment, versus_control;
  MetricRef versus_metric;  // empty terms: same as metric
  // "prediction" (what PSM predicts) or "check": a prerequisite the
  // predictions rely on (a positive control, a manipulation check). The
  // verdict counts predictions and says when a check failed, since a missing
  // effect is then uninformative.
  std::string role = "prediction";

  static ClaimSpec from_json(const Json& value, std::string_view where);
  Json to_json() const;
};

// Checks names against the recipe's arms (with their x, NaN when absent),
// models and probe sets; InputError names the claim id, the field and the
// valid names. "increases" needs at least two distinct x among its arms.
void validate_claim(const ClaimSpec& claim, const std::vector<std::string>& arms,
                    const std::vector<double>& arm_x, const std::vector<std::string>& models,
                    const std::vector<std::string>& probe_sets, std::string_view where);

// One seed's data: its value is mean(values) − mean(minus) (minus may be
// empty). A paired difference is subtracted before it gets here, so its two
// sides share the resampled probe indices; `minus` is resampled separately.
struct SeedSample {
  std::vector<double> values;
  std::vector<double> minus;
};

struct HierarchicalEstimate {
  Interval statistic;
  std::vector<Interval> per_arm;                 // each arm's mean over seeds
  std::vector<std::vector<double>> seed_values;  // [arm][seed]
};

// Percentile bootstrap: per resample, per arm, draw seeds with replacement and
// within each drawn seed probe indices with replacement; `statistic` maps the
// arm values to one number. Deterministic for a given seed.
HierarchicalEstimate hierarchical_bootstrap(
    const std::vector<std::vector<SeedSample>>& arms,
    const std::function<double(const std::vector<double>& arm_values)>& statistic, int resamples,
    std::uint64_t seed);

// OLS slope of y on x (NaN when x has fewer than two distinct values).
double ols_slope(const std::vector<double>& x, const std::vector<double>& y);

// Adds results["claims"] (per claim: its spec, estimate {value, low, high},
// verdict, per_arm [{arm, x, value, low, high, seeds}]), results["verdict"]
// (a plain sentence) and results["measurements"] (per arm, model, probe set
// and trait: mean over seeds with a 95% interval, no control).
void analyze_results(Json& results, int bootstrap = 2000, std::uint64_t seed = 1);

// The overall sentence from analyzed claims (each with "id" and "verdict").
std::string overall_verdict(const Json& claims);

}  // namespace masque::experiment
