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
  // near_zero only: an equivalence test (two one-sided tests at 5%: the 90%
  // interval inside ±tolerance). The tolerance is fixed, or derived from a
  // positive effect of the same recipe, `"tolerance": {"fraction": f, "of":
  // id}`: f times the lower 95% bound of claim `id`'s estimate (the smallest
  // effect that claim established); not read when that bound is <= 0.
  double tolerance = 0.1;
  double tolerance_fraction = 0;  // > 0: derived tolerance
  std::string tolerance_of;
  // positive, greater and increases: the smallest effect (slope per unit x
  // for increases) that counts. "appeared" needs the 95% interval's lower
  // bound above it; an interval above 0 but not above it is "too small". A
  // check must state one (issue 12: a DPO at lr 1e-9 passed "DPO taught"
  // with an interval just above 0): a positive control that barely moves
  // cannot support reading the predictions. Predictions default to 0.
  double minimum = 0;
  bool minimum_given = false;
  // Predictions are read only when the checks they rely on passed:
  // `requires` lists check ids; absent = every check of the recipe.
  std::vector<std::string> requires_checks;
  bool requires_given = false;
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

// Checks the links between a recipe's claims: unique ids; `requires` names
// checks; a derived tolerance names a positive, greater or increases claim
// other than a derived near_zero one. InputError names the claim and field.
void validate_claim_links(const std::vector<ClaimSpec>& claims, std::string_view where);

// One seed's data: its value is mean(values) − mean(minus) (minus may be
// empty). A paired difference is subtracted before it gets here, so its two
// sides share the resampled probe indices; `minus` is resampled separately.
struct SeedSample {
  std::vector<double> values;
  std::vector<double> minus;
};

struct HierarchicalEstimate {
  Interval statistic;                            // 95%
  Interval statistic90;                          // 90% (the equivalence test's interval)
  std::vector<Interval> per_arm;                 // each arm's mean over seeds
  std::vector<std::vector<double>> seed_values;  // [arm][seed]
};

// Percentile bootstrap: per resample, per arm, draw seeds with replacement and
// within each drawn seed probe indices with replacement; `statistic` maps the
// arm values to one number. Deterministic for a given seed.
//
// With few seeds the percentile interval is too narrow (resampling n seeds
// shrinks their variance by (n-1)/n, and the normal quantile stands in for
// Student's t): with 5 seeds it covers ~85%, not 95%, when seeds dominate
// the variance. `expand` (default) widens both sides around the point
// estimate by sqrt(n/(n-1)) * t(df)/z, n = the fewest seeds of an arm, df =
// sum over arms of (seeds - 1) (Hesterberg's expanded percentile, applied as
// a scale). Conservative when probes, not seeds, dominate the variance.
// Arms with one seed: no expansion (there is no seed variance to estimate).
HierarchicalEstimate hierarchical_bootstrap(
    const std::vector<std::vector<SeedSample>>& arms,
    const std::function<double(const std::vector<double>& arm_values)>& statistic, int resamples,
    std::uint64_t seed, bool expand = true);

// The (1 + level) / 2 quantile of Student's t with df degrees of freedom,
// level 0.95 or 0.90 (exact table to df 30, Cornish-Fisher beyond).
double student_t_quantile(int df, double level);

// OLS slope of y on x (NaN when x has fewer than two distinct values).
double ols_slope(const std::vector<double>& x, const std::vector<double>& y);

// Adds results["claims"] (per claim: its spec, estimate {value, low, high},
// verdict, per_arm [{arm, x, value, low, high, seeds}]; near_zero claims also
// estimate90 and the tolerance used; a prediction whose checks failed gets
// verdict "not read" with not_read_because and verdict_if_read), results["verdict"]
// (a plain sentence) and results["measurements"] (per arm, model, probe set
// and trait: mean over seeds with a 95% interval, no control).
void analyze_results(Json& results, int bootstrap = 2000, std::uint64_t seed = 1);

// The overall sentence from analyzed claims (each with "id" and "verdict").
std::string overall_verdict(const Json& claims);

}  // namespace masque::experiment
