// Claims about persona-vector measurements (a recipe's vectors.claims,
// docs/experiments.md "Persona-vector recipes") and their report section.
// Kinds: positive (mean of a per-item metric > 0), greater (metric minus
// versus > 0, paired by item when both have the same length), near_zero
// (within ±tolerance), correlation (Spearman or Pearson of a point set > 0).
// "minimum": m, as the recipe claims' (analysis.h): "appeared" needs the
// interval's lower bound above m, "too small" when it excludes 0 but not m;
// a check must state one.
// Per run (arm, seed) the statistic is computed on that run's items; the
// estimate is the mean over runs, with a 95% hierarchical percentile
// bootstrap (runs resampled, then items within each run), widened for few
// runs as the recipe claims' intervals are (sqrt(n/(n-1)) t(n-1)/z, n runs:
// resampling 3 seeds alone covers far less than 95%). Verdicts as the other
// claims (analysis.h): appeared, too small, opposite, violated, not
// detected; a claim whose measurement is missing (e.g. no vector could be
// extracted) is "not detected" and says why. A prediction is "not read"
// (with not_read_because and verdict_if_read, as analysis.h's) when a check
// it relies on did not appear: its "requires" (vector check ids, validated
// by VectorPlan::from_json) or, absent, every check of the section.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "persona/persona_eval.h"

namespace masque::experiment {

struct RunItems {
  std::vector<double> values, minus;  // metric claims
  std::vector<double> x, y;           // correlation claims
};

// The statistic of a vector claim over runs (estimate: mean of per-run
// statistics) with its bootstrap interval; per-run values in `per_run`.
// `expand`: the small-sample widening above (off only to test it).
persona::Interval vector_claim_estimate(const std::string& kind, const std::string& method,
                                        const std::vector<RunItems>& runs, int resamples,
                                        std::uint64_t seed, std::vector<double>* per_run,
                                        bool expand = true);

// "appeared": the interval lies above `minimum` (0 unless the claim states
// one) or, for near_zero, within ±tolerance; "too small": above 0 but not
// above the minimum.
std::string vector_claim_verdict(const std::string& kind, const persona::Interval& estimate,
                                 double tolerance, double minimum = 0);

// Appends the analyzed vectors.claims of results["recipe"] to
// results["claims"] (predictions whose checks failed: "not read") and
// recomputes results["verdict"].
void analyze_vector_claims(Json& results, int bootstrap, std::uint64_t seed = 7);

// Appends the persona-vector section (claims' tests, vectors, tables as
// means over seeds) to out_dir/report.md, atomically.
void append_vector_report(const Json& results, const std::filesystem::path& out_dir);

}  // namespace masque::experiment
