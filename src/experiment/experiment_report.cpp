// Experiment report writing (see experiment_report.h).
#include "experiment/experiment_report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "experiment/analysis.h"
#include "report/markdown.h"
#include "report/svg.h"

namespace masque::experiment {

using report::fixed;
using report::markdown_table;
using report::percent;

namespace {

// A profile counts as learned once the model prefers its target poles over
// the opposite ones on average (log-likelihood ratio above zero).
constexpr double kReachedNats = 0.0;

double num(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}

std::string str(const Json& j, const char* key, const std::string& fallback = "") {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>()
                                                                : fallback;
}

// x values print as integers when they are (SFT example counts), else 3 digits.
std::string format_x(double x) {
  if (!std::isfinite(x)) return "n/a";
  if (x == std::round(x) && std::fabs(x) < 1e15) return cat(static_cast<long long>(x));
  return fixed(x, 3);
}

std::string str_of(const Json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

std::string interval_text(const Json& j, int digits = 3) {
  const double v = num(j, "value"), lo = num(j, "low"), hi = num(j, "high");
  if (!std::isfinite(v)) return "n/a";
  return report::with_interval(v, lo, hi, digits);
}

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v) {
    if (std::isfinite(x)) sum += x, ++n;
  }
  return n ? sum / n : NAN;
}

// Markdown code fences cannot contain a fence.
std::string unfenced(std::string text) {
  for (std::size_t pos; (pos = text.find("```")) != std::string::npos;) text.replace(pos, 3, "'''");
  return text;
}

struct ArmRow {
  std::string name, label;
  double x = NAN;
};

std::string describe_test(const Json& claim) {
  const std::string kind = str(claim, "kind");
  // The stated minimum effect (checks), else 0.
  const std::string above =
      claim.contains("minimum") ? fixed(num(claim, "minimum"), 3) : std::string("0");
  if (kind == "increases") return "slope of effect vs x > " + above;
  if (kind == "near_zero") {
    // Equivalence: the 90% interval inside ±tolerance (two one-sided tests at 5%).
    const Json& t = claim.contains("tolerance") ? claim["tolerance"] : Json();
    if (t.is_object()) {
      const double value = num(claim, "tolerance_value");
      return "90% CI within ±" + (std::isfinite(value) ? fixed(value, 3) : std::string("?")) +
             " (" + fixed(num(t, "fraction"), 2) + " × lower bound of " + str(t, "of") + ")";
    }
    return "90% CI within ±" + fixed(num(claim, "tolerance"), 3);
  }
  if (kind == "greater") return "effect − versus effect > " + above;
  return "effect > " + above;
}

std::string describe_effect(const Json& claim) {
  const MetricRef metric = MetricRef::from_json(claim.at("metric"), "claim");
  std::string out = "`" + metric.describe() + "` of `" + str(claim, "treatment") + "`";
  if (!str(claim, "control").empty()) out += " minus `" + str(claim, "control") + "`";
  if (claim.contains("versus")) {
    const Json& v = claim["versus"];
    const std::string vm = v.contains("metric")
                               ? MetricRef::from_json(v["metric"], "versus").describe()
                               : metric.describe();
    out += ", compared with `" + vm + "` of `" + str(v, "treatment") + "`";
    if (!str(v, "control").empty()) out += " minus `" + str(v, "control") + "`";
  }
  return out;
}

std::string claims_section(const Json& results, const std::map<std::string, ArmRow>& arms,
                           const std::filesystem::path& dir) {
  const Json& claims = results.at("claims");
  std::string md = "## Claims\n\n";
  if (claims.empty()) return md + "The recipe defines no claims.\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const Json& c : claims) {
    rows.push_back(
        {str(c, "text"), describe_test(c), interval_text(c.at("estimate")), str(c, "verdict")});
  }
  md +=
      markdown_table({"claim (what PSM predicts)", "test", "estimate [95% CI]", "verdict"}, rows) +
      "\n";
  const int resamples =
      results.contains("analysis") ? results["analysis"].value("bootstrap", 0) : 0;
  md +=
      "Effect per seed: mean over paired probes of (treatment − control); per arm: mean over "
      "seeds; the "
      "estimate is the mean over arms (for \"increases\", the least-squares slope of the arm means "
      "against "
      "the arm's x). 95% intervals: hierarchical percentile bootstrap (" +
      std::to_string(resamples) +
      " resamples: seeds within each arm, then probes within each seed, the same probes on both "
      "sides of a "
      "difference), widened for the few seeds by sqrt(n/(n−1))·t/z (docs/experiments.md). "
      "\"appeared\" needs the whole interval on the predicted side (above the claim's minimum "
      "effect where it states one; \"too small\" when it excludes 0 but not that minimum); for "
      "near-zero claims, an "
      "equivalence test: the 90% interval inside the tolerance. A prediction is \"not read\" "
      "when a check it relies on failed.\n\n";
  for (const Json& c : claims) {
    const std::string id = str(c, "id");
    const std::string file = "claim_" + file_safe(id) + ".svg";
    md += "### " + id + "\n\n" + str(c, "text") + "\n\nEffect: " + describe_effect(c) +
          ". Verdict: **" + str(c, "verdict") + "**.\n\n";
    if (c.contains("not_read_because") && c["not_read_because"].is_array()) {
      std::string why;
      for (const Json& r : c["not_read_because"]) why += (why.empty() ? "" : "; ") + str_of(r);
      md += "Not read: " + why +
            (c.contains("verdict_if_read")
                 ? " (read anyway it would be \"" + str(c, "verdict_if_read") + "\")"
                 : std::string()) +
            ".\n\n";
    }
    if (str(c, "kind") == "increases") {
      md += "Slope of the effect against x: " + interval_text(c.at("estimate"), 4) + ".\n\n";
    }
    md += "![" + id + "](" + file + ")\n\n";
    report::BarChart chart;
    chart.title = id + ": effect per arm (95% CI)";
    chart.y_label = "effect";
    std::vector<std::vector<std::string>> arm_rows;
    for (const Json& a : c.at("per_arm")) {
      const std::string name = str(a, "arm");
      const auto it = arms.find(name);
      const std::string label = it == arms.end() ? name : it->second.label;
      report::Bar bar{label, num(a, "value"), {}, {}, {}};
      if (std::isfinite(num(a, "low"))) bar.low = num(a, "low"), bar.high = num(a, "high");
      chart.bars.push_back(bar);
      std::string seeds;
      for (const Json& s : a.at("seeds"))
        seeds += (seeds.empty() ? "" : ", ") + (s.is_number() ? fixed(s.get<double>(), 3) : "n/a");
      arm_rows.push_back({label, format_x(num(a, "x")), interval_text(a), seeds});
    }
    write_file_atomic(dir / file, report::render_svg(chart));
    md += markdown_table({"arm", "x", "effect [95% CI]", "per seed"}, arm_rows) + "\n";
  }
  return md;
}

std::string base_section(const Json& results, const std::vector<ArmRow>& arms) {
  std::string md = "## Did the base model learn the world?\n\n";
  md +=
      "Pretraining per arm (mean over seeds). Trait agreement and speaker identification are the "
      "E1 "
      "measurements (docs/persona-eval.md) against their chance levels; n/a where E1 was not "
      "run.\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const ArmRow& arm : arms) {
    std::vector<double> steps, tokens, train, val, agree, agree_chance, speaker, speaker_chance;
    int runs = 0;
    for (const Json& run : results.at("runs")) {
      if (str(run, "arm") != arm.name || !run.contains("pretrain") || !run["pretrain"].is_object())
        continue;
      const Json& p = run["pretrain"];
      ++runs;
      steps.push_back(num(p, "steps")), tokens.push_back(num(p, "tokens"));
      train.push_back(num(p, "final_train_loss")), val.push_back(num(p, "final_val_loss"));
      if (p.contains("e1") && p["e1"].is_object()) {
        agree.push_back(num(p["e1"], "trait_agreement")),
            agree_chance.push_back(num(p["e1"], "trait_chance"));
        speaker.push_back(num(p["e1"], "speaker_accuracy")),
            speaker_chance.push_back(num(p["e1"], "speaker_chance"));
      }
    }
    auto count = [](double v) {
      return std::isfinite(v) ? cat(static_cast<long long>(std::llround(v))) : "n/a";
    };
    auto vs = [&](const std::vector<double>& v, const std::vector<double>& chance) {
      const double m = mean_of(v);
      return std::isfinite(m) ? percent(m, 1) + " (chance " + percent(mean_of(chance), 1) + ")"
                              : std::string("n/a");
    };
    rows.push_back({arm.label, std::to_string(runs), count(mean_of(steps)), count(mean_of(tokens)),
                    fixed(mean_of(train), 3), fixed(mean_of(val), 3), vs(agree, agree_chance),
                    vs(speaker, speaker_chance)});
  }
  md += markdown_table({"arm", "seeds", "steps", "tokens", "train loss", "val loss",
                        "trait agreement", "speaker id"},
                       rows) +
        "\n";
  return md;
}

// Inference probes (docs/persona-eval.md "Inference probes and the ideal
// observer"): the base model's in-context shifts on new characters next to
// the ideal Bayesian observer's, mean over seeds, and the share reached.
std::string inference_section(const Json& results, const std::vector<ArmRow>& arms) {
  std::vector<std::vector<std::string>> rows;
  for (const ArmRow& arm : arms) {
    // (probe name, kind, turns) -> model / ideal means per seed, in first-seen order.
    std::vector<std::pair<std::string, std::pair<std::vector<double>, std::vector<double>>>> cells;
    for (const Json& run : results.at("runs")) {
      if (str(run, "arm") != arm.name || !run.contains("models") ||
          !run["models"].contains("base") || !run["models"]["base"].contains("inference"))
        continue;
      for (const auto& [probe, summary] : run["models"]["base"]["inference"].items()) {
        if (!summary.contains("rows")) continue;
        for (const Json& row : summary["rows"]) {
          const std::string key =
              probe + "\t" + str(row, "kind") + "\t" + fixed(num(row, "turns"), 0);
          auto it = std::find_if(cells.begin(), cells.end(),
                                 [&](const auto& c) { return c.first == key; });
          if (it == cells.end()) it = cells.insert(cells.end(), {key, {}});
          it->second.first.push_back(num(row, "model"));
          it->second.second.push_back(num(row, "ideal"));
        }
      }
    }
    for (const auto& [key, values] : cells) {
      const std::size_t a = key.find('\t'), b = key.find('\t', a + 1);
      const double model = mean_of(values.first), ideal = mean_of(values.second);
      rows.push_back({arm.label, key.substr(a + 1, b - a - 1), key.substr(b + 1), fixed(model, 2),
                      fixed(ideal, 2),
                      std::fabs(ideal) > 1e-3 ? percent(model / ideal, 0) : std::string("n/a")});
    }
  }
  if (rows.empty()) return "";
  return "## Does the simulator infer characters in context?\n\n"
         "Inference probes on new characters (docs/persona-eval.md): the base model's shift in "
         "nats against the ideal Bayesian observer of the world, mean over seeds. persistence: A "
         "-> A (prerequisite); link: A -> B with B never shown (the positive control); control: "
         "A -> an uncorrelated trait (ideal 0).\n\n" +
         markdown_table(
             {"arm", "kind", "context turns", "model shift", "ideal shift", "share of ideal"},
             rows) +
         "\n";
}

// What each post-training set did to each base model: its size, the SFT
// steps, final loss, and the conversations the stated truncation policy cut or
// dropped (docs/chat-format.md), summed over seeds.
std::string posttrain_section(const Json& results, const std::vector<ArmRow>& arms) {
  std::vector<std::vector<std::string>> rows;
  for (const ArmRow& arm : arms) {
    for (const Json& model : results.at("models")) {
      const std::string name = str(model, "name");
      if (name == "base") continue;
      std::vector<double> examples, steps, loss;
      double truncated = 0, dropped = 0;
      for (const Json& run : results.at("runs")) {
        if (str(run, "arm") != arm.name || !run.contains("models") || !run["models"].contains(name))
          continue;
        const Json& m = run["models"][name];
        examples.push_back(num(m, "examples")), steps.push_back(num(m, "steps")),
            loss.push_back(num(m, "final_loss"));
        if (std::isfinite(num(m, "truncated"))) truncated += num(m, "truncated");
        if (std::isfinite(num(m, "dropped"))) dropped += num(m, "dropped");
      }
      if (examples.empty()) continue;
      const Json set = model.contains("set") ? model["set"] : Json();
      rows.push_back(
          {arm.label, name, set.is_object() ? str(set, "kind") : "", fixed(mean_of(examples), 0),
           fixed(mean_of(steps), 0), fixed(mean_of(loss), 3),
           cat(static_cast<long long>(truncated), " / ", static_cast<long long>(dropped))});
    }
  }
  if (rows.empty()) return "";
  std::string md = "## Post-training\n\n";
  md +=
      "SFT of each base model per post-training set (mean over seeds; truncated / dropped "
      "conversations "
      "summed over seeds: longer than the context, cut to it or dropped when no Assistant token "
      "was left).\n\n";
  md +=
      markdown_table(
          {"arm", "model", "set", "examples", "steps", "final loss", "truncated / dropped"}, rows) +
      "\n";
  // DPO after SFT (recipe "sft": {"dpo": ...}): per arm and model, and whether
  // every arm of a seed trained on the same pairs (equal set hashes).
  std::vector<std::vector<std::string>> dpo_rows;
  std::map<std::pair<std::string, std::int64_t>, std::set<std::string>> hashes;  // (model, seed)
  for (const ArmRow& arm : arms) {
    for (const Json& model : results.at("models")) {
      const std::string name = str(model, "name");
      std::vector<double> pairs, steps, loss;
      for (const Json& run : results.at("runs")) {
        if (str(run, "arm") != arm.name || !run.contains("models") ||
            !run["models"].contains(name) || !run["models"][name].contains("dpo"))
          continue;
        const Json& d = run["models"][name]["dpo"];
        pairs.push_back(num(d, "pairs")), steps.push_back(num(d, "steps")),
            loss.push_back(num(d, "final_loss"));
        hashes[{name, run.value("seed", std::int64_t(0))}].insert(str(d, "set_hash"));
      }
      if (pairs.empty()) continue;
      dpo_rows.push_back({arm.label, name, fixed(mean_of(pairs), 0), fixed(mean_of(steps), 0),
                          fixed(mean_of(loss), 3)});
    }
  }
  if (!dpo_rows.empty()) {
    bool same = true;
    for (const auto& [key, set] : hashes) same = same && set.size() == 1;
    md += "DPO after SFT (reference: the SFT model; mean over seeds). " +
          std::string(same ? "Every arm of a seed trained on the same preference pairs."
                           : "**The arms of a seed trained on different preference pairs.**") +
          "\n\n" +
          markdown_table({"arm", "model", "pairs", "DPO steps", "final DPO loss"}, dpo_rows) + "\n";
  }
  return md;
}

std::string measurements_section(const Json& results, const std::vector<ArmRow>& arms) {
  std::string md = "## Measurements\n\n";
  md +=
      "Mean probe value per trait: the model's preference for the trait's positive pole, "
      "log p(reply+) − log p(reply−) in nats over paired replies (positive = leans to the positive "
      "pole; "
      "\"target\": the mean of sign(target) × value over a profile set's traits); mean over seeds "
      "with a 95% "
      "hierarchical bootstrap interval, no control subtracted. Absolute values carry a length bias "
      "of the "
      "paired phrases; compare models and arms.\n\n";
  const Json& all = results.at("measurements");
  for (const ArmRow& arm : arms) {
    bool header = false;
    for (const Json& set_json : results.at("probe_sets")) {
      const std::string set = set_json.get<std::string>();
      std::set<std::string> traits;
      std::map<std::pair<std::string, std::string>, std::string> cells;  // (model, trait)
      for (const Json& m : all) {
        if (str(m, "arm") != arm.name || str(m, "probe_set") != set) continue;
        traits.insert(str(m, "trait"));
        cells[{str(m, "model"), str(m, "trait")}] = interval_text(m);
      }
      if (traits.empty()) continue;
      if (!header) md += "### " + arm.label + "\n\n", header = true;
      std::vector<std::string> head = {"model (" + set + ")"};
      head.insert(head.end(), traits.begin(), traits.end());
      std::vector<std::vector<std::string>> rows;
      for (const Json& model : results.at("models")) {
        const std::string name = str(model, "name");
        std::vector<std::string> row = {name};
        bool any = false;
        for (const std::string& t : traits) {
          const auto it = cells.find({name, t});
          row.push_back(it == cells.end() ? "—" : it->second);
          any = any || it != cells.end();
        }
        if (any) rows.push_back(row);
      }
      md += markdown_table(head, rows) + "\n";
    }
  }
  return md;
}

// E2-style curves: post-trained models with x and series, target metric vs x.
std::string curves_section(const Json& results, const std::vector<ArmRow>& arms,
                           const std::filesystem::path& dir) {
  struct CurveModel {
    std::string name, series;
    double x;
  };
  std::vector<CurveModel> models;
  std::vector<std::string> series_order;
  for (const Json& m : results.at("models")) {
    if (!m.contains("x") || !m["x"].is_number() || !m.contains("series") ||
        !m["series"].is_string())
      continue;
    models.push_back({str(m, "name"), str(m, "series"), m["x"].get<double>()});
    if (std::find(series_order.begin(), series_order.end(), models.back().series) ==
        series_order.end()) {
      series_order.push_back(models.back().series);
    }
  }
  if (models.empty()) return "";
  std::stable_sort(models.begin(), models.end(),
                   [](const auto& l, const auto& r) { return l.x < r.x; });
  std::map<std::tuple<std::string, std::string, std::string>, double>
      target;  // (arm, model, set) -> mean
  for (const Json& m : results.at("measurements")) {
    if (str(m, "trait") == "target")
      target[{str(m, "arm"), str(m, "model"), str(m, "probe_set")}] = num(m, "value");
  }
  const std::size_t chart_arms = arms.size() <= 3 ? arms.size() : 1;
  std::string md = "## Learning curves\n\n";
  md +=
      "The target metric (mean over seeds) of each post-trained model against its x, one line per "
      "series" +
      std::string(chart_arms < arms.size() ? " (first arm only)" : "") +
      " (above 0: the model prefers its taught profile over the opposite one).\n\n";
  std::vector<std::string> sets;
  for (const Json& s : results.at("probe_sets")) {
    const std::string set = s.get<std::string>();
    for (const CurveModel& cm : models) {
      if (target.count({arms[0].name, cm.name, set})) {
        sets.push_back(set);
        break;
      }
    }
  }
  if (sets.empty())
    return md + "No post-trained model reports a target metric, so there are no curves.\n\n";
  std::vector<std::vector<std::string>> needed;
  for (std::size_t a = 0; a < chart_arms; ++a) {
    for (const std::string& series : series_order) {
      std::vector<std::string> row = {series + (chart_arms > 1 ? " (" + arms[a].label + ")" : "")};
      for (const std::string& set : sets) {
        std::string reached = "not reached";
        for (const CurveModel& cm : models) {
          const auto it = target.find({arms[a].name, cm.name, set});
          if (cm.series == series && it != target.end() && it->second > kReachedNats) {
            reached = format_x(cm.x);
            break;
          }
        }
        row.push_back(reached);
      }
      needed.push_back(row);
    }
    for (const std::string& set : sets) {
      report::LineChart chart;
      chart.title = set + ".target vs x (" + arms[a].label + ")";
      chart.x_label = "x";
      chart.y_label = "target metric (nats)";
      chart.reference_y = kReachedNats;
      chart.reference_label = "prefers the target";
      double lo = INFINITY, hi = 0;
      for (const std::string& series : series_order) {
        report::LineSeries line{series, {}, {}};
        for (const CurveModel& cm : models) {
          const auto it = target.find({arms[a].name, cm.name, set});
          if (cm.series != series || it == target.end()) continue;
          line.x.push_back(cm.x), line.y.push_back(it->second);
          lo = std::min(lo, cm.x), hi = std::max(hi, cm.x);
        }
        if (!line.x.empty()) chart.series.push_back(line);
      }
      chart.log_x = lo > 0 && hi >= 10 * lo;  // example counts usually double per step
      const std::string file = "curve_" + file_safe(set) + "_" + std::to_string(a + 1) + ".svg";
      write_file_atomic(dir / file, report::render_svg(chart));
      md += "![" + set + " curve](" + file + ")\n\n";
    }
  }
  std::vector<std::string> head = {"series"};
  const Json& relative = results.contains("examples_needed") ? results["examples_needed"] : Json();
  if (relative.is_array() && !relative.empty()) {
    // Relative to the base model, with a bootstrap interval (examples_needed.h).
    auto count = [](const Json& v, double max_x) {
      return v.is_number() ? fixed(v.get<double>(), 0) : "> " + format_x(max_x);
    };
    std::map<std::pair<std::string, std::string>, std::map<std::string, std::string>> cells;
    std::vector<std::pair<std::string, std::string>> rows_order;
    std::vector<std::string> set_order;
    double threshold = 0;
    for (const Json& e : relative) {
      const std::pair<std::string, std::string> row = {str(e, "arm"), str(e, "series")};
      if (!cells.count(row)) rows_order.push_back(row);
      const std::string set = str(e, "probe_set");
      if (std::find(set_order.begin(), set_order.end(), set) == set_order.end())
        set_order.push_back(set);
      const double max_x = num(e, "max_x");
      threshold = num(e, "threshold");
      cells[row][set] = (e["value"].is_number() ? count(e["value"], max_x)
                                                : "not reached (> " + format_x(max_x) + ")") +
                        " [" + count(e["low"], max_x) + ", " + count(e["high"], max_x) + "]";
    }
    std::vector<std::vector<std::string>> table;
    for (const auto& row : rows_order) {
      std::string label = row.second;
      for (const ArmRow& a : arms) {
        if (a.name == row.first && arms.size() > 1) label += " (" + a.label + ")";
      }
      std::vector<std::string> cols = {label};
      for (const std::string& set : set_order) cols.push_back(cells[row][set]);
      table.push_back(cols);
    }
    head = {"series"};
    for (const std::string& set : set_order) head.push_back("examples needed (" + set + ")");
    md +=
        "\"Examples needed\" relative to the base model: the smallest x at which the shift "
        "toward the taught profile (mean over its traits of the change in log-likelihood "
        "preference from the base model) reaches " +
        fixed(threshold, 1) +
        " nat, interpolated in log2(x), with a 95% bootstrap interval over seeds and probes; "
        "\"> N\": not reached within the largest x.\n\n" +
        markdown_table(head, table) + "\n";
    return md;
  }
  for (const std::string& set : sets) head.push_back("examples needed (" + set + ")");
  md += markdown_table(head, needed) + "\n";
  return md;
}

// Sampled replies, in AssistantSampleResult::to_json's form:
// {"question_fraction", "examples": [{"prompt", "reply"}], ...}.
std::string samples_section(const Json& results, const std::map<std::string, ArmRow>& arms) {
  std::string md;
  for (const Json& model : results.at("models")) {
    const std::string name = str(model, "name");
    for (const Json& run : results.at("runs")) {
      if (!run.contains("models") || !run["models"].contains(name)) continue;
      const Json& m = run["models"][name];
      if (!m.contains("samples") || !m["samples"].is_object()) continue;
      const Json& s = m["samples"];
      if (!s.contains("examples") || !s["examples"].is_array() || s["examples"].empty()) continue;
      const std::string arm = str(run, "arm");
      const auto it = arms.find(arm);
      md += "### " + name + " (" + (it == arms.end() ? arm : it->second.label) + ", seed " +
            run.value("seed", Json()).dump() + ")\n\n";
      if (std::isfinite(num(s, "question_fraction"))) {
        md += "Sentences of the sampled replies that are questions: " +
              percent(num(s, "question_fraction"), 1) + ".\n\n";
      }
      md += "```\n";
      const std::size_t n = std::min<std::size_t>(3, s["examples"].size());
      for (std::size_t i = 0; i < n; ++i) {
        const Json& e = s["examples"][i];
        md += unfenced(str(e, "prompt")) + "\n" + unfenced(str(e, "reply")) + "\n" +
              (i + 1 < n ? "\n" : "");
      }
      md += "```\n\n";
      break;  // the first run that sampled this model
    }
  }
  return md.empty() ? "" : "## Sample replies\n\n" + md;
}

std::string setup_section(const Json& results, const std::map<std::string, ArmRow>& arms) {
  std::string md = "## Setup and reproducibility\n\n";
  std::string seeds;
  for (const Json& s : results.value("seeds", Json::array()))
    seeds += (seeds.empty() ? "" : ", ") + s.dump();
  const int resamples =
      results.contains("analysis") ? results["analysis"].value("bootstrap", 0) : 0;
  md += markdown_table({"item", "value"}, {{"experiment", str(results, "name")},
                                           {"seeds", seeds},
                                           {"scale", fixed(num(results, "scale"), 3)},
                                           {"wall time", fixed(num(results, "seconds"), 1) + " s"},
                                           {"bootstrap resamples", std::to_string(resamples)},
                                           {"command", "`" + str(results, "command") + "`"}}) +
        "\n";
  md += "Stages (a cached stage was reused from an earlier run with the same cache key):\n\n";
  std::vector<std::vector<std::string>> rows;
  auto cached = [](const Json& j) {
    return j.contains("cached") && j["cached"].is_boolean()
               ? (j["cached"].get<bool>() ? "yes" : "no")
               : "";
  };
  for (const Json& run : results.at("runs")) {
    const std::string arm = str(run, "arm");
    const auto it = arms.find(arm);
    const std::string label = it == arms.end() ? arm : it->second.label;
    const std::string seed = run.value("seed", Json()).dump();
    if (run.contains("pretrain") && run["pretrain"].is_object()) {
      const Json& p = run["pretrain"];
      rows.push_back(
          {label, seed, "pretrain", str(p, "key", "—"), cached(p), fixed(num(p, "seconds"), 1)});
    }
    for (const Json& model : results.at("models")) {
      const std::string name = str(model, "name");
      if (!run.contains("models") || !run["models"].contains(name)) continue;
      const Json& m = run["models"][name];
      if (!m.contains("key")) continue;  // the base model has no stage of its own
      rows.push_back(
          {label, seed, name, str(m, "key", "—"), cached(m), fixed(num(m, "seconds"), 1)});
    }
  }
  md += markdown_table({"arm", "seed", "stage", "cache key", "cached", "seconds"}, rows) + "\n";
  return md;
}

std::string caveats_section(const Json& results) {
  const std::size_t seeds = results.value("seeds", Json::array()).size();
  std::string md = "## Caveats\n\n";
  md += "- Toy scale (scale " + fixed(num(results, "scale"), 3) +
        "): small models trained for minutes on a synthetic world; an effect that does not appear "
        "here may "
        "appear at larger scale, and one that appears here need not transfer to frontier models.\n";
  md += "- " + std::to_string(seeds) + " seed" + (seeds == 1 ? "" : "s") +
        " per arm: the intervals include seed-to-seed variation, but with few seeds they are "
        "themselves "
        "uncertain.\n";
  md +=
      "- Probes are log-likelihood preferences between paired continuations, not generated "
      "behaviour: a "
      "shifted preference need not show in sampled replies.\n\n";
  return md;
}

}  // namespace

std::string file_safe(const std::string& id) {
  std::string out = id;
  for (char& ch : out) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  }
  return out.empty() ? "_" : out;
}

std::filesystem::path write_experiment_report(const Json& results_in,
                                              const std::filesystem::path& out_dir) {
  Json results = results_in;
  if (!results.contains("verdict") || !results.contains("claims") ||
      !results.contains("measurements")) {
    analyze_results(results);
  }
  std::filesystem::create_directories(out_dir);
  std::vector<ArmRow> arms;
  std::map<std::string, ArmRow> arm_by_name;
  for (const Json& a : results.at("arms")) {
    ArmRow row{str(a, "name"), str(a, "label", str(a, "name")), num(a, "x")};
    arms.push_back(row);
    arm_by_name[row.name] = row;
  }
  const std::string name = str(results, "name", "experiment");
  std::string md = "# " + name + ": " + str(results, "title", "PSM experiment") + "\n\n";
  if (!str(results, "question").empty()) md += "**Question.** " + str(results, "question") + "\n\n";
  md += "## What PSM predicts\n\n" +
        str(results, "prediction", "(the recipe states no prediction)") + "\n\n";
  md += "## Verdict\n\n**" + str(results, "verdict") + "**\n\n";
  if (!str(results, "notes").empty()) md += "**Notes.** " + str(results, "notes") + "\n\n";
  md += claims_section(results, arm_by_name, out_dir);
  md += base_section(results, arms);
  md += inference_section(results, arms);
  md += posttrain_section(results, arms);
  md += measurements_section(results, arms);
  md += curves_section(results, arms, out_dir);
  md += samples_section(results, arm_by_name);
  md += setup_section(results, arm_by_name);
  md += caveats_section(results);
  const std::filesystem::path path = out_dir / "report.md";
  write_file_atomic(path, md);
  return path;
}

}  // namespace masque::experiment
