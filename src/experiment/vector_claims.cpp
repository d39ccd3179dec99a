// Persona-vector claims and report section (see vector_claims.h).
#include "experiment/vector_claims.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/rng.h"
#include "experiment/analysis.h"
#include "report/markdown.h"
#include "vectors/stats.h"

namespace masque::experiment {
namespace {

double mean(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v) {
    if (std::isfinite(x)) s += x, ++n;
  }
  return n ? s / n : std::nan("");
}

// One run's statistic on items `idx` (resampled indices; identity when empty).
double run_statistic(const std::string& kind, const std::string& method, const RunItems& r,
                     const std::vector<std::size_t>* idx, const std::vector<std::size_t>* idx2) {
  auto pick = [](const std::vector<double>& v, const std::vector<std::size_t>* ix) {
    if (!ix) return v;
    std::vector<double> out;
    out.reserve(ix->size());
    for (std::size_t i : *ix) out.push_back(v[i]);
    return out;
  };
  if (kind == "correlation") {
    const std::vector<double> x = pick(r.x, idx), y = pick(r.y, idx);
    return method == "pearson" ? vectors::pearson(x, y) : vectors::spearman(x, y);
  }
  const double m = mean(pick(r.values, idx));
  return r.minus.empty() ? m : m - mean(pick(r.minus, idx2));
}

std::vector<std::size_t> draw(std::size_t n, Rng& rng) {
  std::vector<std::size_t> idx(n);
  for (std::size_t& i : idx) i = static_cast<std::size_t>(rng.below(n));
  return idx;
}

std::string fmt(double x, int digits = 3) {
  if (!std::isfinite(x)) return "n/a";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << x;
  return s.str();
}

// j[key] by reference (results outlive every use), or an empty object.
const Json& sub(const Json& j, const char* key) {
  static const Json empty = Json::object();
  return j.is_object() && j.contains(key) ? j.at(key) : empty;
}

Json num_or_null(double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); }

std::string describe(const Json& spec) {
  const std::string kind = spec.value("kind", "");
  const std::string bound = cat(" > ", spec.value("minimum", 0.0));
  if (kind == "correlation") {
    return cat(spec.value("method", "spearman"), " correlation of `", spec.value("points", ""),
               "` (x vs y)", bound);
  }
  std::string m = "`" + spec.value("metric", "") + "`";
  if (spec.contains("versus")) m += " − `" + spec.value("versus", "") + "`";
  if (kind == "near_zero") return cat("|mean ", m, "| ≤ ", spec.value("tolerance", 0.1));
  return "mean " + m + bound;
}

// The report's verdict cell: a prediction not read says which check failed
// and what it would have been, so the number is not mistaken for a finding.
std::string verdict_text(const Json& c) {
  std::string out = c.value("verdict", "");
  std::string why;
  for (const Json& r : c.value("not_read_because", Json::array()))
    why += (why.empty() ? "" : "; ") + (r.is_string() ? r.get<std::string>() : r.dump());
  if (!why.empty()) {
    out += " (" + why;
    if (c.contains("verdict_if_read")) out += "; read anyway: " + c.value("verdict_if_read", "");
    out += ")";
  }
  if (c.contains("note")) out += " (" + c.value("note", "") + ")";
  return out;
}

// As the recipe claims (analysis.cpp analyze_results): a prediction is read
// only when the checks it relies on passed, its own `requires` or, absent,
// every check of the vectors section. A failed check means what the
// prediction relies on did not happen (the vector is not a trait direction,
// the SFT taught nothing), so its result, present or missing, says little.
void mark_unread_predictions(Json& claims, std::size_t first) {
  std::map<std::string, std::string> check_verdict;
  std::vector<std::string> all_checks;
  for (std::size_t k = first; k < claims.size(); ++k) {
    if (claims[k].value("role", "") != "check") continue;
    all_checks.push_back(claims[k].value("id", ""));
    check_verdict[all_checks.back()] = claims[k].value("verdict", "");
  }
  for (std::size_t k = first; k < claims.size(); ++k) {
    Json& c = claims[k];
    if (c.value("role", "") == "check") continue;
    std::vector<std::string> required = all_checks;
    if (c.contains("requires")) required = c.at("requires").get<std::vector<std::string>>();
    Json because = Json::array();
    for (const std::string& id : required) {
      const auto it = check_verdict.find(id);
      if (it == check_verdict.end()) {  // results.json edited by hand: the plan refuses it
        throw InputError(cat("vector claim '", c.value("id", ""), "': field 'requires' names '", id,
                             "', which is not a vector check of this recipe"));
      }
      if (it->second != "appeared") because.push_back(cat("check '", id, "' failed"));
    }
    if (because.empty()) continue;
    c["verdict_if_read"] = c["verdict"];
    c["verdict"] = "not read";
    c["not_read_because"] = because;
  }
}

}  // namespace

persona::Interval vector_claim_estimate(const std::string& kind, const std::string& method,
                                        const std::vector<RunItems>& runs, int resamples,
                                        std::uint64_t seed, std::vector<double>* per_run,
                                        bool expand) {
  std::vector<double> point;
  for (const RunItems& r : runs) point.push_back(run_statistic(kind, method, r, nullptr, nullptr));
  if (per_run) *per_run = point;
  persona::Interval out{mean(point), std::nan(""), std::nan("")};
  if (!std::isfinite(out.value)) return out;
  Rng rng(seed);
  std::vector<double> stats;
  for (int b = 0; b < resamples; ++b) {
    std::vector<double> values;
    for (std::size_t k : draw(runs.size(), rng)) {
      const RunItems& r = runs[k];
      const std::size_t n = kind == "correlation" ? r.x.size() : r.values.size();
      if (n == 0) continue;
      const std::vector<std::size_t> idx = draw(n, rng);
      // Paired items share indices; an unpaired `minus` is resampled apart.
      const bool paired = r.minus.size() == r.values.size();
      const std::vector<std::size_t> idx2 =
          paired || r.minus.empty() ? idx : draw(r.minus.size(), rng);
      values.push_back(run_statistic(kind, method, r, &idx, &idx2));
    }
    const double s = mean(values);
    if (std::isfinite(s)) stats.push_back(s);
  }
  if (stats.size() < 10) return out;
  std::sort(stats.begin(), stats.end());
  auto q = [&](double p) {
    const double pos = p * double(stats.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, stats.size() - 1);
    return stats[lo] + (pos - double(lo)) * (stats[hi] - stats[lo]);
  };
  // Small-sample widening around the estimate, as hierarchical_bootstrap
  // does for the recipe claims (analysis.h): with n runs, resampling runs
  // shrinks their variance by (n-1)/n and z stands in for t(n-1).
  const double n = double(runs.size());
  const double k =
      expand && runs.size() >= 2
          ? std::sqrt(n / (n - 1)) * student_t_quantile(int(runs.size()) - 1, 0.95) / 1.959964
          : 1.0;
  out.low = out.value - k * (out.value - q(0.025));
  out.high = out.value + k * (q(0.975) - out.value);
  if (kind == "correlation") {  // a correlation's interval stays within [-1, 1]
    out.low = std::max(out.low, -1.0);
    out.high = std::min(out.high, 1.0);
  }
  return out;
}

std::string vector_claim_verdict(const std::string& kind, const persona::Interval& e,
                                 double tolerance, double minimum) {
  if (!std::isfinite(e.value) || !std::isfinite(e.low) || !std::isfinite(e.high))
    return "not detected";
  if (kind == "near_zero") {
    if (e.low >= -tolerance && e.high <= tolerance) return "appeared";
    if (e.low > tolerance || e.high < -tolerance) return "violated";
    return "not detected";
  }
  if (e.low > minimum) return "appeared";
  if (e.low > 0) return "too small";
  if (e.high < 0) return "opposite";
  return "not detected";
}

void analyze_vector_claims(Json& results, int bootstrap, std::uint64_t seed) {
  if (!results.contains("recipe") || !results["recipe"].contains("vectors")) return;
  const Json specs = results["recipe"]["vectors"].value("claims", Json::array());
  const Json& runs = results.at("runs");
  std::vector<std::string> arm_names;
  std::map<std::string, double> arm_x;
  for (const Json& a : results.value("arms", Json::array())) {
    arm_names.push_back(a.value("name", ""));
    arm_x[a.value("name", "")] = a.value("x", 0.0);
  }
  Json& claims = results["claims"];
  if (!claims.is_array()) claims = Json::array();
  const std::size_t first = claims.size();  // this section's claims follow the recipe's
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const Json& spec = specs[k];
    const std::string kind = spec.value("kind", "positive");
    const std::string method = spec.value("method", "spearman");
    const double tolerance = spec.value("tolerance", 0.1);
    const double minimum = spec.value("minimum", 0.0);
    const std::string name =
        kind == "correlation" ? spec.value("points", "") : spec.value("metric", "");
    std::map<std::string, std::vector<RunItems>> by_arm;
    std::vector<RunItems> all;
    int missing = 0;
    for (const Json& run : runs) {
      const Json& v = sub(run, "vectors");
      RunItems items;
      if (kind == "correlation") {
        const Json& p = sub(v, "points");
        if (p.contains(name)) {
          items.x = p[name]["x"].get<std::vector<double>>();
          items.y = p[name]["y"].get<std::vector<double>>();
        }
      } else {
        const Json& m = sub(v, "metrics");
        if (m.contains(name)) items.values = m[name].get<std::vector<double>>();
        if (spec.contains("versus")) {
          const std::string vs = spec.value("versus", "");
          if (m.contains(vs)) items.minus = m[vs].get<std::vector<double>>();
          if (items.minus.empty()) items.values.clear();
        }
      }
      if ((kind == "correlation" ? items.x.size() : items.values.size()) == 0) {
        ++missing;
        continue;
      }
      by_arm[run.value("arm", "")].push_back(items);
      all.push_back(std::move(items));
    }
    std::vector<double> per_run;
    const persona::Interval est =
        vector_claim_estimate(kind, method, all, bootstrap, seed + 1000003 * (k + 1), &per_run);
    Json out = {{"id", spec.value("id", "")},
                {"text", spec.value("text", "")},
                {"role", spec.value("role", "prediction")},
                {"kind", kind},
                {"metric", "vectors." + name},
                {"treatment", "assistant"},
                {"test", describe(spec)},
                {"vector_claim", true},
                {"estimate",
                 {{"value", num_or_null(est.value)},
                  {"low", num_or_null(est.low)},
                  {"high", num_or_null(est.high)}}},
                {"verdict", vector_claim_verdict(kind, est, tolerance, minimum)}};
    if (kind == "near_zero") out["tolerance"] = tolerance;
    if (spec.contains("minimum")) out["minimum"] = minimum;
    if (spec.contains("requires")) out["requires"] = spec.at("requires");
    if (missing > 0) {
      out["note"] = cat(missing, " of ", runs.size(),
                        " runs have no such measurement (e.g. no vector could be extracted: see "
                        "the runs' vectors)");
    }
    Json per_arm = Json::array();
    for (const std::string& arm : arm_names) {
      std::vector<double> seeds;
      const persona::Interval a =
          vector_claim_estimate(kind, method, by_arm[arm], bootstrap, seed + 7 * (k + 1), &seeds);
      Json j = {{"arm", arm},
                {"x", arm_x[arm]},
                {"value", num_or_null(a.value)},
                {"low", num_or_null(a.low)},
                {"high", num_or_null(a.high)},
                {"seeds", Json::array()}};
      for (double s : seeds) j["seeds"].push_back(num_or_null(s));
      per_arm.push_back(j);
    }
    out["per_arm"] = per_arm;
    out["per_run"] = Json::array();
    for (double s : per_run) out["per_run"].push_back(num_or_null(s));
    claims.push_back(out);
  }
  mark_unread_predictions(claims, first);
  results["verdict"] = overall_verdict(claims);
}

void append_vector_report(const Json& results, const std::filesystem::path& out_dir) {
  if (!results.contains("recipe") || !results["recipe"].contains("vectors")) return;
  std::string md = "## Persona vectors\n\n";
  md +=
      "Expression of a trait is the model's paired-probe preference Δ = log p(reply+) − log "
      "p(reply−) in nats on held-out questions (the two world-written replies differ only in "
      "the trait's piece); steering adds c·v at the vector's best layer at every position. Per "
      "run the statistic is computed on that run's items; the estimate is the mean over runs "
      "with a 95% hierarchical bootstrap (runs, then items within runs), widened for few runs "
      "by sqrt(n/(n−1))·t(n−1)/z as the recipe claims' intervals are. A check's `> m` is its "
      "minimum effect: an interval above 0 but not above m is \"too small\". A prediction is \"not "
      "read\" when a check it relies on (its `requires`, else every check) did not pass.\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const Json& c : results.at("claims")) {
    if (!c.value("vector_claim", false)) continue;
    const Json& e = c.at("estimate");
    auto get = [&](const char* k) {
      return e.contains(k) && e[k].is_number() ? e[k].get<double>() : std::nan("");
    };
    std::string seeds;
    for (const Json& s : c.value("per_run", Json::array()))
      seeds += (seeds.empty() ? "" : ", ") + (s.is_number() ? fmt(s.get<double>()) : "n/a");
    rows.push_back({c.value("id", ""), c.value("role", ""), c.value("test", ""),
                    std::isfinite(get("value"))
                        ? report::with_interval(get("value"), get("low"), get("high"), 3)
                        : "n/a",
                    seeds, verdict_text(c)});
  }
  md += report::markdown_table({"claim", "role", "test", "estimate [95% CI]", "per run", "verdict"},
                               rows) +
        "\n";
  // Vectors per run, then each table as the mean over runs (same row order).
  std::vector<std::vector<std::string>> vrows;
  std::map<std::string, std::vector<const Json*>> tables;
  for (const Json& run : results.at("runs")) {
    const Json& v = sub(run, "vectors");
    for (const auto& [who, traits] : sub(v, "vectors").items()) {
      for (const auto& [trait, info] : traits.items()) {
        vrows.push_back({cat(run.value("arm", ""), " seed ", run.value("seed", 0)), who, trait,
                         info.contains("error") ? "none: " + info.value("error", "")
                                                : cat("layer ", info.value("best_layer", -1)),
                         cat(info.value("kept", 0), " / ", info.value("candidates", 0))});
      }
    }
    for (const auto& [name, table] : sub(v, "tables").items()) tables[name].push_back(&table);
  }
  md += "### Vectors\n\n" +
        report::markdown_table({"run", "model", "trait", "best layer", "kept pairs"}, vrows) + "\n";
  for (const auto& [name, list] : tables) {
    const Json& first = *list.front();
    auto columns = first.at("columns").get<std::vector<std::string>>();
    std::vector<std::vector<std::string>> trows;
    bool label_varies = false;
    for (std::size_t r = 0; r < first.at("rows").size(); ++r) {
      std::vector<std::string> row;
      for (std::size_t c = 0; c < columns.size(); ++c) {
        const Json& cell = first["rows"][r][c];
        if (c == 0) {
          // The row's label. It can differ by run (the dose tables' first
          // column is each run's best layer): then all runs' values, in run
          // order, rather than run 1's passed off as every run's.
          std::vector<std::string> labels;
          for (const Json* t : list) {
            const Json& rr = t->at("rows");
            const Json& x = r < rr.size() ? rr[r][0] : Json(nullptr);
            labels.push_back(x.is_string() ? x.get<std::string>() : x.dump());
          }
          std::string shown = labels.front();
          if (std::any_of(labels.begin(), labels.end(),
                          [&](const std::string& l) { return l != labels.front(); })) {
            label_varies = true;
            shown.clear();
            for (const std::string& l : labels) shown += (shown.empty() ? "" : ", ") + l;
          }
          row.push_back(shown);
          continue;
        }
        if (!cell.is_number()) {
          row.push_back(cell.is_string() ? cell.get<std::string>() : cell.dump());
          continue;
        }
        std::vector<double> xs;
        for (const Json* t : list) {
          const Json& rr = t->at("rows");
          if (r < rr.size() && rr[r][c].is_number()) xs.push_back(rr[r][c].get<double>());
        }
        row.push_back(fmt(mean(xs)));
      }
      trows.push_back(row);
    }
    if (label_varies) columns[0] += " (per run)";
    md += cat("### ", name, " (mean over ", list.size(), " runs)\n\n") +
          report::markdown_table(columns, trows) + "\n";
  }
  const std::filesystem::path path = out_dir / "report.md";
  std::string existing;
  if (std::filesystem::exists(path)) {
    std::ifstream in(path, std::ios::binary);
    existing.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  write_file_atomic(path, existing + "\n" + md);
}

}  // namespace masque::experiment
