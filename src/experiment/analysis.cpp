// Claims, verdicts and measurements (see analysis.h; the bootstrap itself is
// bootstrap.cpp).
#include "experiment/analysis.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/error.h"
#include "experiment/examples_needed.h"

namespace masque::experiment {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Splits "<probe_set>.<trait>" at the first dot.
std::pair<std::string, std::string> split_reference(const std::string& ref) {
  const std::size_t dot = ref.find('.');
  return {ref.substr(0, dot), dot == std::string::npos ? "" : ref.substr(dot + 1)};
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  double sum = 0;
  for (double x : v) sum += x;
  return sum / double(v.size());
}

Json number_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

Json interval_json(const Interval& i) {
  return {{"value", number_or_null(i.value)},
          {"low", number_or_null(i.low)},
          {"high", number_or_null(i.high)}};
}

// The parts of the results JSON the statistics need, checked once.
struct ResultsView {
  std::vector<std::string> arms, models, probe_sets;
  std::vector<double> arm_x;                     // NaN when the arm has no x
  std::vector<std::vector<const Json*>> runs;    // [arm] runs in seed order
  std::vector<std::vector<std::int64_t>> seeds;  // [arm]
};

ResultsView view_results(const Json& results) {
  const std::string where = "experiment results";
  ResultsView view;
  const Json arms = get_field<Json>(results, "arms", where);
  if (!arms.is_array() || arms.empty())
    throw FormatError(cat(where, ": 'arms' must be a non-empty array"));
  for (const Json& arm : arms) {
    view.arms.push_back(get_field<std::string>(arm, "name", where + ": arms[]"));
    view.arm_x.push_back(arm.contains("x") && arm["x"].is_number() ? arm["x"].get<double>() : kNaN);
  }
  for (const Json& model : get_field<Json>(results, "models", where)) {
    view.models.push_back(get_field<std::string>(model, "name", where + ": models[]"));
  }
  for (const Json& set : get_field<Json>(results, "probe_sets", where)) {
    if (!set.is_string())
      throw FormatError(cat(where, ": 'probe_sets' must hold strings, got ", set.dump()));
    view.probe_sets.push_back(set.get<std::string>());
  }
  view.runs.resize(view.arms.size());
  view.seeds.resize(view.arms.size());
  std::vector<std::vector<std::pair<std::int64_t, const Json*>>> by_arm(view.arms.size());
  const Json& runs = results.at("runs");
  if (!runs.is_array()) throw FormatError(cat(where, ": 'runs' must be an array"));
  for (const Json& run : runs) {
    const std::string arm = get_field<std::string>(run, "arm", where + ": runs[]");
    const auto it = std::find(view.arms.begin(), view.arms.end(), arm);
    if (it == view.arms.end()) {
      throw FormatError(cat(where, ": a run names arm '", arm, "', which is not in 'arms' (",
                            join(view.arms), ")"));
    }
    by_arm[std::size_t(it - view.arms.begin())].push_back(
        {get_field<std::int64_t>(run, "seed", where + ": runs[]"), &run});
  }
  for (std::size_t a = 0; a < by_arm.size(); ++a) {
    std::stable_sort(by_arm[a].begin(), by_arm[a].end(),
                     [](const auto& l, const auto& r) { return l.first < r.first; });
    for (const auto& [seed, run] : by_arm[a])
      view.seeds[a].push_back(seed), view.runs[a].push_back(run);
  }
  return view;
}

// The per-probe array at run.models[model] for one metric term, or nullptr.
const Json* find_term(const Json& run, const std::string& model, const std::string& reference) {
  const auto [set, trait] = split_reference(reference);
  if (!run.contains("models") || !run["models"].contains(model)) return nullptr;
  const Json& m = run["models"][model];
  const Json* arr = nullptr;
  if (trait == "target") {
    if (m.contains("target") && m["target"].is_object() && m["target"].contains(set))
      arr = &m["target"][set];
  } else if (m.contains("probes") && m["probes"].is_object() && m["probes"].contains(set) &&
             m["probes"][set].is_object() && m["probes"][set].contains(trait)) {
    arr = &m["probes"][set][trait];
  }
  return arr && arr->is_array() ? arr : nullptr;
}

std::vector<double> to_vector(const Json& arr, std::string_view where) {
  std::vector<double> out;
  out.reserve(arr.size());
  for (const Json& v : arr) {
    if (!v.is_number())
      throw FormatError(cat(where, ": probe values must be numbers, got ", v.dump()));
    out.push_back(v.get<double>());
  }
  if (out.empty())
    throw FormatError(cat(where, ": the probe list is empty; the run measured nothing"));
  return out;
}

// Value of `metric` for (run, model): the weighted per-probe sum of its terms.
std::vector<double> metric_vector(const Json& run, const std::string& model,
                                  const MetricRef& metric, std::string_view where) {
  std::vector<double> out;
  for (const auto& [reference, weight] : metric.terms) {
    const std::string here = cat(where, ": model '", model, "', metric term '", reference, "'");
    const Json* arr = find_term(run, model, reference);
    if (!arr) throw FormatError(cat(here, ": not in the results (the runner did not measure it)"));
    const std::vector<double> values = to_vector(*arr, here);
    if (out.empty()) out.assign(values.size(), 0.0);
    if (values.size() != out.size()) {
      throw FormatError(cat(here, ": ", values.size(), " probes, but the other terms have ",
                            out.size(), "; weighted terms must be measured on the same probes"));
    }
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += weight * values[i];
  }
  return out;
}

std::vector<double> effect_vector(const Json& run, const std::string& treatment,
                                  const std::string& control, const MetricRef& metric,
                                  std::string_view where) {
  std::vector<double> effect = metric_vector(run, treatment, metric, where);
  if (control.empty()) return effect;
  const std::vector<double> base = metric_vector(run, control, metric, where);
  if (base.size() != effect.size()) {
    throw FormatError(cat(where, ": treatment '", treatment, "' has ", effect.size(),
                          " probes but control '", control, "' has ", base.size(),
                          "; paired probes must match"));
  }
  for (std::size_t i = 0; i < effect.size(); ++i) effect[i] -= base[i];
  return effect;
}

// near_zero: equivalence (two one-sided tests at 5%) when the 90% interval
// lies inside ±tolerance; violated when the 95% interval lies outside it.
// Other kinds: appeared when the 95% interval lies above the claim's minimum
// effect; "too small" when it excludes 0 but not the minimum.
std::string verdict_for(ClaimKind kind, const Interval& ci, const Interval& ci90, double tolerance,
                        double minimum) {
  if (kind == ClaimKind::NearZero) {
    if (!std::isfinite(tolerance)) return "not read";
    if (ci90.low >= -tolerance && ci90.high <= tolerance) return "appeared";
    if (ci.low > tolerance || ci.high < -tolerance) return "violated";
    return "not detected";
  }
  if (ci.low > minimum) return "appeared";
  if (ci.low > 0) return "too small";
  if (ci.high < 0) return "opposite";
  return "not detected";
}

Json analyze_claim(const ClaimSpec& claim, const ResultsView& view, int bootstrap,
                   std::uint64_t seed) {
  std::vector<std::size_t> arm_idx;
  for (std::size_t a = 0; a < view.arms.size(); ++a) {
    if (claim.arms.empty() || contains(claim.arms, view.arms[a])) arm_idx.push_back(a);
  }
  std::vector<std::vector<SeedSample>> samples;
  std::vector<double> xs;
  for (std::size_t a : arm_idx) {
    std::vector<SeedSample> arm;
    for (std::size_t s = 0; s < view.runs[a].size(); ++s) {
      const Json& run = *view.runs[a][s];
      const std::string where =
          cat("claim '", claim.id, "', arm '", view.arms[a], "', seed ", view.seeds[a][s]);
      SeedSample sample{effect_vector(run, claim.treatment, claim.control, claim.metric, where),
                        {}};
      if (!claim.versus_treatment.empty()) {
        const MetricRef& vm =
            claim.versus_metric.terms.empty() ? claim.metric : claim.versus_metric;
        std::vector<double> versus =
            effect_vector(run, claim.versus_treatment, claim.versus_control, vm, where);
        if (versus.size() == sample.values.size()) {
          for (std::size_t i = 0; i < versus.size(); ++i) sample.values[i] -= versus[i];
        } else {
          sample.minus = std::move(versus);  // different probes: not paired
        }
      }
      arm.push_back(std::move(sample));
    }
    if (arm.empty()) {
      throw FormatError(
          cat("claim '", claim.id, "': arm '", view.arms[a], "' has no runs in the results"));
    }
    samples.push_back(std::move(arm));
    xs.push_back(view.arm_x[a]);
  }
  std::function<double(const std::vector<double>&)> statistic;
  if (claim.kind == ClaimKind::Increases) {
    statistic = [xs](const std::vector<double>& values) { return ols_slope(xs, values); };
  } else {
    statistic = [](const std::vector<double>& values) { return mean(values); };
  }
  const HierarchicalEstimate est = hierarchical_bootstrap(samples, statistic, bootstrap, seed);
  Json out = claim.to_json();
  out["estimate"] = interval_json(est.statistic);
  if (claim.kind == ClaimKind::NearZero) out["estimate90"] = interval_json(est.statistic90);
  // A derived tolerance is filled in by analyze_results once its source is known.
  out["verdict"] =
      verdict_for(claim.kind, est.statistic, est.statistic90, claim.tolerance, claim.minimum);
  Json per_arm = Json::array();
  for (std::size_t k = 0; k < arm_idx.size(); ++k) {
    Json arm = interval_json(est.per_arm[k]);
    arm["arm"] = view.arms[arm_idx[k]];
    arm["x"] = number_or_null(xs[k]);
    arm["seeds"] = Json::array();
    for (double v : est.seed_values[k]) arm["seeds"].push_back(number_or_null(v));
    per_arm.push_back(arm);
  }
  out["per_arm"] = per_arm;
  return out;
}

// Mean over seeds of each probed trait (and "target") per arm, model and set.
Json measure(const ResultsView& view, int bootstrap, std::uint64_t seed) {
  Json out = Json::array();
  std::uint64_t stream = 0;
  for (std::size_t a = 0; a < view.arms.size(); ++a) {
    for (const std::string& model : view.models) {
      for (const std::string& set : view.probe_sets) {
        // Traits measured in any run of this arm (sorted: JSON objects are).
        std::set<std::string> traits;
        for (const Json* run : view.runs[a]) {
          if (!run->contains("models") || !(*run)["models"].contains(model)) continue;
          const Json& m = (*run)["models"][model];
          if (m.contains("probes") && m["probes"].contains(set) && m["probes"][set].is_object()) {
            for (const auto& [trait, values] : m["probes"][set].items()) traits.insert(trait);
          }
          if (m.contains("target") && m["target"].is_object() && m["target"].contains(set))
            traits.insert("target");
        }
        for (const std::string& trait : traits) {
          std::vector<SeedSample> arm;
          std::vector<std::int64_t> seeds;
          for (std::size_t s = 0; s < view.runs[a].size(); ++s) {
            const Json* arr = find_term(*view.runs[a][s], model, set + "." + trait);
            if (!arr) continue;  // this seed did not measure it (e.g. base not re-measured)
            arm.push_back({to_vector(*arr, cat("arm '", view.arms[a], "', seed ", view.seeds[a][s],
                                               ", model '", model, "', ", set, ".", trait)),
                           {}});
            seeds.push_back(view.seeds[a][s]);
          }
          if (arm.empty()) continue;
          const HierarchicalEstimate est = hierarchical_bootstrap(
              {arm}, [](const std::vector<double>& v) { return v[0]; }, bootstrap,
              seed + 7919 * ++stream);
          Json entry = interval_json(est.statistic);
          entry["arm"] = view.arms[a];
          entry["model"] = model;
          entry["probe_set"] = set;
          entry["trait"] = trait;
          entry["seeds"] = seeds;
          entry["seed_values"] = Json::array();
          for (double v : est.seed_values[0]) entry["seed_values"].push_back(number_or_null(v));
          out.push_back(entry);
        }
      }
    }
  }
  return out;
}

const std::vector<std::pair<ClaimKind, std::string_view>> kKinds = {
    {ClaimKind::Increases, "increases"},
    {ClaimKind::Positive, "positive"},
    {ClaimKind::NearZero, "near_zero"},
    {ClaimKind::Greater, "greater"}};

}  // namespace

std::string_view claim_kind_name(ClaimKind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "?";
}

MetricRef MetricRef::from_json(const Json& value, std::string_view where) {
  MetricRef metric;
  auto add = [&](const std::string& reference, double weight) {
    const auto [set, trait] = split_reference(reference);
    if (set.empty() || trait.empty()) {
      throw InputError(cat(
          where, ": field 'metric': '", reference,
          "' is not a metric reference; write \"<probe_set>.<trait>\" or \"<probe_set>.target\""));
    }
    metric.terms.push_back({reference, weight});
  };
  if (value.is_string()) {
    add(value.get<std::string>(), 1.0);
  } else if (value.is_object()) {
    if (value.empty()) {
      throw InputError(cat(where,
                           ": field 'metric': the weighted sum has no terms; give at least one "
                           "\"<probe_set>.<trait>\": weight"));
    }
    metric.weighted = true;
    for (const auto& [reference, weight] : value.items()) {
      if (!weight.is_number() || !std::isfinite(weight.get<double>())) {
        throw InputError(cat(where, ": field 'metric': the weight of '", reference,
                             "' must be a finite number, got ", weight.dump()));
      }
      add(reference, weight.get<double>());
    }
  } else {
    throw InputError(
        cat(where,
            ": field 'metric' must be a string \"<probe_set>.<trait>\" or an object of "
            "weights, got ",
            json_type_name(value)));
  }
  return metric;
}

Json MetricRef::to_json() const {
  if (!weighted && terms.size() == 1) return terms[0].first;
  Json out = Json::object();
  for (const auto& [reference, weight] : terms) out[reference] = weight;
  return out;
}

std::string MetricRef::describe() const {
  if (!weighted && terms.size() == 1) return terms[0].first;
  std::string out;
  for (const auto& [reference, weight] : terms) {
    out += (out.empty() ? "" : " + ") + cat(weight) + "·" + reference;
  }
  return out;
}

ClaimSpec ClaimSpec::from_json(const Json& value, std::string_view where_in) {
  if (!value.is_object())
    throw InputError(cat(where_in, ": a claim must be a JSON object, got ", json_type_name(value)));
  ClaimSpec claim;
  claim.id = get_field<std::string>(value, "id", where_in);
  if (claim.id.empty()) throw InputError(cat(where_in, ": field 'id' must not be empty"));
  const std::string where = cat(where_in, ": claim '", claim.id, "'");
  static const std::set<std::string> known = {"id",        "text",    "kind",     "metric",
                                              "treatment", "control", "arms",     "tolerance",
                                              "versus",    "role",    "requires", "minimum"};
  for (const auto& [key, v] : value.items()) {
    if (!known.count(key)) {
      throw InputError(cat(where, ": unknown field '", key,
                           "' (fields: id, text, kind, metric, treatment, "
                           "control, arms, tolerance, versus, role, requires, minimum)"));
    }
  }
  claim.text = get_field<std::string>(value, "text", where);
  claim.role = get_field_or<std::string>(value, "role", where, "prediction");
  if (claim.role != "prediction" && claim.role != "check") {
    throw InputError(
        cat(where, ": field 'role' is '", claim.role, "'; use \"prediction\" or \"check\""));
  }
  const std::string kind = get_field<std::string>(value, "kind", where);
  bool found = false;
  for (const auto& [k, name] : kKinds) {
    if (name == kind) claim.kind = k, found = true;
  }
  if (!found) {
    throw InputError(cat(where, ": field 'kind' is '", kind,
                         "'; use one of increases, positive, near_zero, greater"));
  }
  if (!value.contains("metric")) throw InputError(cat(where, ": missing required field 'metric'"));
  claim.metric = MetricRef::from_json(value["metric"], where);
  claim.treatment = get_field<std::string>(value, "treatment", where);
  claim.control = get_field_or<std::string>(value, "control", where, "");
  if (value.contains("arms") && !value["arms"].is_null()) {
    const Json& arms = value["arms"];
    if (!arms.is_array() || arms.empty()) {
      throw InputError(
          cat(where,
              ": field 'arms' must be a non-empty array of arm names (or left out for all arms)"));
    }
    for (const Json& arm : arms) {
      if (!arm.is_string())
        throw InputError(cat(where, ": field 'arms' must hold arm names, got ", arm.dump()));
      claim.arms.push_back(arm.get<std::string>());
    }
  }
  if (value.contains("tolerance") && value["tolerance"].is_object()) {
    const Json& t = value["tolerance"];
    const std::string twhere = where + ": field 'tolerance'";
    reject_unknown_fields(t, {"fraction", "of"}, twhere);
    claim.tolerance_fraction = get_field<double>(t, "fraction", twhere);
    claim.tolerance_of = get_field<std::string>(t, "of", twhere);
    if (!(claim.tolerance_fraction > 0 && claim.tolerance_fraction <= 1)) {
      throw InputError(
          cat(twhere, ": 'fraction' must be in (0, 1], got ", claim.tolerance_fraction));
    }
    if (claim.kind != ClaimKind::NearZero) {
      throw InputError(cat(twhere, ": a derived tolerance applies only to kind 'near_zero'"));
    }
    claim.tolerance = kNaN;
  } else {
    claim.tolerance = get_field_or<double>(value, "tolerance", where, 0.1);
    if (!(claim.tolerance > 0) || !std::isfinite(claim.tolerance)) {
      throw InputError(cat(where,
                           ": field 'tolerance' must be a positive number or {\"fraction\": f, "
                           "\"of\": \"<claim id>\"}, got ",
                           value["tolerance"].dump()));
    }
  }
  if (value.contains("minimum") && !value["minimum"].is_null()) {
    if (claim.kind == ClaimKind::NearZero) {
      throw InputError(cat(where,
                           ": field 'minimum' is for kinds positive, greater and "
                           "increases; a near_zero claim states a 'tolerance'"));
    }
    claim.minimum = get_field<double>(value, "minimum", where);
    if (!(claim.minimum >= 0) || !std::isfinite(claim.minimum)) {
      throw InputError(
          cat(where, ": field 'minimum' must be a number >= 0, got ", value["minimum"].dump()));
    }
    claim.minimum_given = true;
  } else if (claim.role == "check" && claim.kind != ClaimKind::NearZero) {
    throw InputError(cat(where,
                         ": a check must state field 'minimum', the smallest effect that makes "
                         "it a working control (in the metric's units, e.g. \"minimum\": 1 for "
                         "one nat), so that a barely moving effect does not pass it"));
  }
  if (value.contains("requires") && !value["requires"].is_null()) {
    const Json& req = value["requires"];
    if (!req.is_array()) {
      throw InputError(cat(where, ": field 'requires' must be an array of check claim ids"));
    }
    for (const Json& id : req) {
      if (!id.is_string())
        throw InputError(cat(where, ": field 'requires' must hold claim ids, got ", id.dump()));
      claim.requires_checks.push_back(id.get<std::string>());
    }
    claim.requires_given = true;
    if (claim.role == "check") {
      throw InputError(cat(where, ": field 'requires' is for predictions; checks are always read"));
    }
  }
  const bool has_versus = value.contains("versus") && !value["versus"].is_null();
  // With `versus`, the effect is a difference of two effects; kind greater
  // needs one, the other kinds may use one (E2's counterbalanced slope).
  if (claim.kind == ClaimKind::Greater || has_versus) {
    if (!has_versus) {
      throw InputError(
          cat(where,
              ": kind 'greater' needs field 'versus' {\"treatment\": ..., \"control\": ...}, "
              "the effect this one must exceed"));
    }
    const Json& versus = value["versus"];
    const std::string vwhere = where + ": field 'versus'";
    for (const auto& [key, v] : versus.items()) {
      if (key != "treatment" && key != "control" && key != "metric") {
        throw InputError(
            cat(vwhere, ": unknown field '", key, "' (fields: treatment, control, metric)"));
      }
    }
    claim.versus_treatment = get_field<std::string>(versus, "treatment", vwhere);
    claim.versus_control = get_field_or<std::string>(versus, "control", vwhere, "");
    if (versus.contains("metric") && !versus["metric"].is_null()) {
      claim.versus_metric = MetricRef::from_json(versus["metric"], vwhere);
    }
  }
  return claim;
}

Json ClaimSpec::to_json() const {
  Json out = {{"id", id},
              {"text", text},
              {"kind", claim_kind_name(kind)},
              {"metric", metric.to_json()},
              {"treatment", treatment}};
  if (!control.empty()) out["control"] = control;
  if (!arms.empty()) out["arms"] = arms;
  if (kind == ClaimKind::NearZero) {
    out["tolerance"] = tolerance_of.empty()
                           ? Json(tolerance)
                           : Json{{"fraction", tolerance_fraction}, {"of", tolerance_of}};
  }
  if (minimum_given) out["minimum"] = minimum;
  if (role != "prediction") out["role"] = role;
  if (requires_given) out["requires"] = requires_checks;
  if (!versus_treatment.empty()) {
    Json versus = {{"treatment", versus_treatment}};
    if (!versus_control.empty()) versus["control"] = versus_control;
    if (!versus_metric.terms.empty()) versus["metric"] = versus_metric.to_json();
    out["versus"] = versus;
  }
  return out;
}

void validate_claim(const ClaimSpec& claim, const std::vector<std::string>& arms,
                    const std::vector<double>& arm_x, const std::vector<std::string>& models,
                    const std::vector<std::string>& probe_sets, std::string_view where_in) {
  const std::string where = cat(where_in, ": claim '", claim.id, "'");
  auto check_model = [&](const std::string& name, std::string_view field) {
    if (!contains(models, name)) {
      throw InputError(cat(where, ": field '", field, "' names model '", name,
                           "', which the recipe does not have "
                           "(models: ",
                           join(models), ")"));
    }
  };
  auto check_metric = [&](const MetricRef& metric, std::string_view field) {
    for (const auto& [reference, weight] : metric.terms) {
      const std::string set = split_reference(reference).first;
      if (!contains(probe_sets, set)) {
        throw InputError(
            cat(where, ": field '", field, "' term '", reference, "' names probe set '", set,
                "', which the recipe does not measure (probe sets: ", join(probe_sets), ")"));
      }
    }
  };
  check_model(claim.treatment, "treatment");
  if (!claim.control.empty()) check_model(claim.control, "control");
  check_metric(claim.metric, "metric");
  if (!claim.versus_treatment.empty()) {
    check_model(claim.versus_treatment, "versus.treatment");
    if (!claim.versus_control.empty()) check_model(claim.versus_control, "versus.control");
    check_metric(claim.versus_metric, "versus.metric");
  }
  std::vector<double> xs;
  for (std::size_t a = 0; a < arms.size(); ++a) {
    if (claim.arms.empty() || contains(claim.arms, arms[a]))
      xs.push_back(a < arm_x.size() ? arm_x[a] : kNaN);
  }
  for (const std::string& arm : claim.arms) {
    if (!contains(arms, arm)) {
      throw InputError(cat(where, ": field 'arms' names arm '", arm,
                           "', which the recipe does not have (arms: ", join(arms), ")"));
    }
  }
  if (claim.kind == ClaimKind::Increases) {
    std::set<double> distinct;
    for (double x : xs) {
      if (!std::isfinite(x)) {
        throw InputError(
            cat(where,
                ": kind 'increases' needs an x on every arm it uses (field 'arms'); give each "
                "arm a numeric \"x\""));
      }
      distinct.insert(x);
    }
    if (distinct.size() < 2) {
      throw InputError(
          cat(where,
              ": kind 'increases' needs arms with at least two distinct x values (field "
              "'arms' selects ",
              xs.size(), " arm(s) with ", distinct.size(),
              " distinct x); add arms or use kind 'positive'"));
    }
  }
}

void validate_claim_links(const std::vector<ClaimSpec>& claims, std::string_view where) {
  std::map<std::string, const ClaimSpec*> by_id;
  for (const ClaimSpec& c : claims) {
    if (!by_id.emplace(c.id, &c).second) {
      throw InputError(
          cat(where, ": claim id '", c.id, "' is used twice; give each claim its own id"));
    }
  }
  for (const ClaimSpec& c : claims) {
    const std::string cw = cat(where, ": claim '", c.id, "'");
    for (const std::string& id : c.requires_checks) {
      const auto it = by_id.find(id);
      if (it == by_id.end() || it->second->role != "check") {
        throw InputError(cat(cw, ": field 'requires' names '", id,
                             "', which is not a claim with \"role\": \"check\""));
      }
    }
    if (!c.tolerance_of.empty()) {
      const auto it = by_id.find(c.tolerance_of);
      if (it == by_id.end() || it->second == &c || it->second->kind == ClaimKind::NearZero) {
        throw InputError(cat(cw, ": field 'tolerance' derives from '", c.tolerance_of,
                             "', which must be another claim of kind positive, greater or "
                             "increases (the effect the tolerance is a fraction of)"));
      }
    }
  }
}

std::string overall_verdict(const Json& all_claims) {
  if (all_claims.empty())
    return "No claims were defined for this experiment, so there is no verdict.";
  auto list = [](const std::vector<std::string>& ids) {
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      out += (i == 0 ? "" : i + 1 == ids.size() ? " and " : ", ") + ids[i];
    }
    return out;
  };
  Json claims = Json::array();
  std::vector<std::string> checks_passed, checks_failed;
  for (const Json& c : all_claims) {
    if (c.value("role", "prediction") != "check") {
      claims.push_back(c);
    } else {
      (c.at("verdict") == "appeared" ? checks_passed : checks_failed)
          .push_back("'" + c.at("id").get<std::string>() + "'");
    }
  }
  std::string checks;
  if (!checks_failed.empty()) {
    checks = " Check" + std::string(checks_failed.size() > 1 ? "s" : "") +
             " not passed: " + list(checks_failed) +
             ": what the predictions rely on did not happen in these models, so their results, "
             "present or "
             "missing, say little about PSM at this scale.";
  } else if (!checks_passed.empty()) {
    checks = " Checks passed: " + list(checks_passed) + ".";
  }
  if (claims.empty()) return "No predictions were defined, only checks." + checks;
  std::map<std::string, std::vector<std::string>> by_verdict;
  for (const Json& c : claims) {
    by_verdict[c.at("verdict").get<std::string>()].push_back("'" + c.at("id").get<std::string>() +
                                                             "'");
  }
  const std::size_t appeared = by_verdict["appeared"].size();
  std::string tail;
  if (!by_verdict["not read"].empty()) {
    tail += " Not read: " + list(by_verdict["not read"]) +
            " (a check they rely on failed, or the effect a tolerance derives from was not "
            "established).";
  }
  if (!by_verdict["not detected"].empty())
    tail += " Not detected: " + list(by_verdict["not detected"]) + ".";
  if (!by_verdict["too small"].empty()) {
    tail += " Too small: " + list(by_verdict["too small"]) +
            " (the interval excludes 0 but not the stated minimum effect).";
  }
  if (!by_verdict["opposite"].empty()) {
    tail += " The opposite of the prediction was found for " + list(by_verdict["opposite"]) +
            " (95% CI entirely on the wrong side of zero).";
  }
  if (!by_verdict["violated"].empty()) {
    tail += " Violated: " + list(by_verdict["violated"]) +
            " (an effect predicted to be near zero lies entirely outside its tolerance).";
  }
  const std::string n = std::to_string(claims.size());
  const std::string noun = claims.size() == 1 ? " prediction" : " predictions";
  if (appeared == claims.size()) {
    return "The effect PSM predicts appeared: all " + n + noun + " held at 95% confidence (" +
           list(by_verdict["appeared"]) + ")." + checks;
  }
  if (by_verdict["not read"].size() == claims.size()) {
    return "No prediction can be read: the checks they rely on did not pass (or a tolerance had "
           "no effect to derive from)." +
           checks;
  }
  if (appeared == 0) {
    return "The effect PSM predicts did not appear at this scale: none of the " + n + noun +
           " held." + tail + checks;
  }
  return "Partly: " + std::to_string(appeared) + " of " + n + noun + " held (" +
         list(by_verdict["appeared"]) + ")." + tail + checks;
}

void analyze_results(Json& results, int bootstrap, std::uint64_t seed) {
  const ResultsView view = view_results(results);
  Json specs = Json::array();
  if (results.contains("recipe") && results["recipe"].is_object() &&
      results["recipe"].contains("claims")) {
    specs = results["recipe"]["claims"];
    if (!specs.is_array())
      throw InputError("recipe: field 'claims' must be an array of claim objects");
  }
  std::vector<ClaimSpec> parsed;
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const std::string where = cat("recipe: claims[", k, "]");
    parsed.push_back(ClaimSpec::from_json(specs[k], where));
    validate_claim(parsed.back(), view.arms, view.arm_x, view.models, view.probe_sets, where);
  }
  validate_claim_links(parsed, "recipe");
  Json claims = Json::array();
  std::map<std::string, std::size_t> index;
  for (std::size_t k = 0; k < parsed.size(); ++k) {
    claims.push_back(analyze_claim(parsed[k], view, bootstrap, seed + 1000003 * (k + 1)));
    index[parsed[k].id] = k;
  }
  // Derived tolerances: a fraction of the smallest effect the source claim
  // established (its lower 95% bound); none established, nothing to test.
  for (std::size_t k = 0; k < parsed.size(); ++k) {
    const ClaimSpec& c = parsed[k];
    if (c.tolerance_of.empty()) continue;
    const Json& source = claims[index.at(c.tolerance_of)];
    const Json low = source.at("estimate").at("low");
    const bool established = source.at("verdict") == "appeared" && low.is_number();
    Json& out = claims[k];
    const double tolerance = established ? c.tolerance_fraction * low.get<double>() : kNaN;
    out["tolerance_value"] = number_or_null(tolerance);
    const Json& e95 = out.at("estimate");
    const Json& e90 = out.at("estimate90");
    auto interval = [](const Json& e) {
      return Interval{e.value("value", kNaN), e["low"].is_number() ? e["low"].get<double>() : kNaN,
                      e["high"].is_number() ? e["high"].get<double>() : kNaN};
    };
    out["verdict"] = verdict_for(c.kind, interval(e95), interval(e90), tolerance, c.minimum);
    if (!established) {
      out["not_read_because"] = Json::array(
          {cat("'", c.tolerance_of, "' established no effect to derive the tolerance from")});
    }
  }
  // Predictions are read only when their checks passed.
  std::vector<std::string> all_checks;
  for (const ClaimSpec& c : parsed) {
    if (c.role == "check") all_checks.push_back(c.id);
  }
  for (std::size_t k = 0; k < parsed.size(); ++k) {
    const ClaimSpec& c = parsed[k];
    if (c.role == "check") continue;
    Json failed = Json::array();
    for (const std::string& id : c.requires_given ? c.requires_checks : all_checks) {
      if (claims[index.at(id)].at("verdict") != "appeared") failed.push_back(id);
    }
    if (failed.empty()) continue;
    claims[k]["verdict_if_read"] = claims[k]["verdict"];
    claims[k]["verdict"] = "not read";
    Json because = claims[k].value("not_read_because", Json::array());
    for (const Json& id : failed)
      because.push_back(cat("check '", id.get<std::string>(), "' failed"));
    claims[k]["not_read_because"] = because;
  }
  results["verdict"] = overall_verdict(claims);
  results["claims"] = claims;
  results["measurements"] = measure(view, bootstrap, seed);
  results["examples_needed"] = examples_needed(results, bootstrap, seed);
  results["analysis"] = {{"bootstrap", bootstrap}, {"seed", seed}};
}

}  // namespace masque::experiment
