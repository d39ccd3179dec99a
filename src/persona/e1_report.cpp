// E1 report writing (see e1_report.h).
#include "persona/e1_report.h"

#include <cmath>

#include "core/atomic_file.h"
#include "core/json_util.h"
#include "report/markdown.h"
#include "report/svg.h"

namespace masque::persona {

using report::fixed;
using report::percent;

namespace {

std::string ci_percent(const Interval& i) {
  return percent(i.value, 1) + " [" + percent(i.low, 1) + ", " + percent(i.high, 1) + "]";
}

const ContextResult& zero_context(const PersonaEvalResult& eval) {
  for (const auto& ctx : eval.contexts) {
    if (ctx.turns == 0) return ctx;
  }
  return eval.contexts.front();
}

}  // namespace

bool above_chance(const PersonaEvalResult& eval) {
  if (eval.contexts.empty()) return false;
  const ContextResult& ctx = eval.contexts.back();
  return ctx.mean_sign_accuracy.low > ctx.mean_chance &&
         ctx.speaker_accuracy.low > ctx.speaker_chance;
}

std::string e1_summary_table(const PersonaEvalResult& eval) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& ctx : eval.contexts) {
    rows.push_back({std::to_string(ctx.turns), ci_percent(ctx.mean_sign_accuracy),
                    percent(ctx.mean_chance, 1), ci_percent(ctx.speaker_accuracy),
                    percent(ctx.speaker_chance, 1)});
  }
  return report::text_table(
      {"turns", "trait agreement [95% CI]", "chance", "speaker id [95% CI]", "chance"}, rows);
}

void write_e1_report(const E1ReportInputs& in, const std::filesystem::path& dir) {
  const world::World& world = *in.world;
  const PersonaEvalResult& eval = *in.eval;
  std::filesystem::create_directories(dir);
  std::string md = "# " + in.title + "\n\n";
  md +=
      "The persona selection model says pretraining teaches a model to simulate the characters of "
      "its "
      "corpus. Here a model trained only on a generated persona world is prompted as each "
      "character on "
      "held-out questions; its answers are scored by the world's exact trait rules and compared "
      "with each "
      "character's ground truth (docs/persona-eval.md).\n\n";
  const bool verdict = above_chance(eval);
  const ContextResult& last = eval.contexts.back();
  md += std::string("**Verdict:** persona acquisition is ") + (verdict ? "" : "**not** ") +
        "clearly above chance (at " + std::to_string(last.turns) +
        " in-context turns: trait agreement " + ci_percent(last.mean_sign_accuracy) +
        " vs chance " + percent(last.mean_chance, 1) + "; speaker identification " +
        ci_percent(last.speaker_accuracy) + " vs chance " + percent(last.speaker_chance, 1) +
        ").\n\n";

  if (!in.setup.empty()) {
    md += "## Setup\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, v] : in.setup) rows.push_back({k, v});
    md += report::markdown_table({"item", "value"}, rows) + "\n";
  }

  md += "## Results by in-context turns\n\n";
  md +=
      "Trait agreement: share of characters whose mean expressed trait has the sign of their true "
      "trait, "
      "averaged over the six traits; chance is the majority-sign baseline. Speaker identification: "
      "share "
      "of responses the scorer attributes to the prompted character; chance is 1/K. Intervals: 95% "
      "bootstrap over characters.\n\n";
  {
    std::vector<std::vector<std::string>> rows;
    for (const auto& ctx : eval.contexts) {
      rows.push_back({std::to_string(ctx.turns), ci_percent(ctx.mean_sign_accuracy),
                      percent(ctx.mean_chance, 1), ci_percent(ctx.speaker_accuracy),
                      percent(ctx.speaker_chance, 1)});
    }
    md += report::markdown_table({"turns", "trait agreement", "chance", "speaker id", "chance"},
                                 rows) +
          "\n";
  }
  md += "![sharpening](sharpening.svg)\n\n";

  md += "## Per trait\n\n";
  for (const auto* ctx : {&zero_context(eval), &eval.contexts.back()}) {
    md += "At " + std::to_string(ctx->turns) + " in-context turns:\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : ctx->traits) {
      rows.push_back({std::string(world::trait_name(a.trait)), ci_percent(a.sign_accuracy),
                      percent(a.chance, 1),
                      fixed(a.correlation.value, 2) + " [" + fixed(a.correlation.low, 2) + ", " +
                          fixed(a.correlation.high, 2) + "]",
                      std::to_string(a.characters), percent(a.coverage, 0)});
    }
    md += report::markdown_table(
              {"trait", "sign agreement", "chance", "Pearson r", "characters", "readable"}, rows) +
          "\n";
    if (ctx == &eval.contexts.back()) break;
  }
  md += "![traits](traits.svg)\n\n";
  md += "## Speakers\n\n![speaker confusion](speakers.svg)\n\n";
  if (!in.train_curve.empty()) md += "## Training\n\n![loss](loss.svg)\n\n";
  if (!eval.example_prompts.empty()) {
    md += "## Examples (first sample, 0 turns)\n\n";
    for (std::size_t i = 0; i < eval.example_prompts.size(); ++i) {
      const std::string& p = eval.example_prompts[i];
      const std::size_t last_line = p.rfind("Interviewer:");
      md += "```\n" + (last_line == std::string::npos ? p : p.substr(last_line)) +
            eval.example_responses[i] + "\n```\n\n";
    }
  }
  write_file_atomic(dir / "report.md", md);

  // Charts.
  if (!in.train_curve.empty()) {
    report::LineChart chart;
    chart.title = "Training loss";
    chart.x_label = "step";
    chart.y_label = "cross-entropy (nats/token)";
    report::LineSeries train{"train", {}, {}}, val{"val", {}, {}};
    for (const auto& [s, l] : in.train_curve) train.x.push_back(double(s)), train.y.push_back(l);
    for (const auto& [s, l] : in.val_curve) val.x.push_back(double(s)), val.y.push_back(l);
    chart.series.push_back(train);
    if (!val.x.empty()) chart.series.push_back(val);
    write_file_atomic(dir / "loss.svg", report::render_svg(chart));
  }
  {
    report::BarChart chart;
    const ContextResult& ctx = eval.contexts.back();
    chart.title =
        "Trait agreement with ground truth (" + std::to_string(ctx.turns) + " in-context turns)";
    chart.y_label = "sign agreement over characters";
    chart.y_min = 0;
    chart.y_max = 1;
    chart.reference_label = "chance (majority sign)";
    for (const auto& a : ctx.traits) {
      chart.bars.push_back({std::string(world::trait_name(a.trait)), a.sign_accuracy.value,
                            a.sign_accuracy.low, a.sign_accuracy.high, a.chance});
    }
    chart.bars.push_back({"speaker", ctx.speaker_accuracy.value, ctx.speaker_accuracy.low,
                          ctx.speaker_accuracy.high, ctx.speaker_chance});
    write_file_atomic(dir / "traits.svg", report::render_svg(chart));
  }
  {
    const ContextResult& ctx = zero_context(eval);
    report::Heatmap chart;
    chart.title =
        "Speaker confusion (" + std::to_string(ctx.turns) + " turns): prompted vs identified";
    chart.x_label = "identified speaker (last column: none)";
    chart.y_label = "prompted character";
    for (std::size_t ci = 0; ci < eval.characters.size(); ++ci) {
      chart.row_labels.push_back(world.characters()[eval.characters[ci]].name);
      std::vector<double> row;
      for (int count : ctx.confusion[ci]) row.push_back(double(count) / double(eval.samples));
      chart.values.push_back(row);
    }
    for (const auto& c : world.characters()) chart.column_labels.push_back(c.name);
    chart.column_labels.push_back("none");
    write_file_atomic(dir / "speakers.svg", report::render_svg(chart));
  }
  {
    report::LineChart chart;
    chart.title = "Sharpening with in-context turns";
    chart.x_label = "in-context turns of the character";
    chart.y_label = "accuracy";
    report::LineSeries traits{"trait agreement", {}, {}}, speaker{"speaker id", {}, {}},
        chance{"trait chance", {}, {}};
    for (const auto& ctx : eval.contexts) {
      traits.x.push_back(ctx.turns), traits.y.push_back(ctx.mean_sign_accuracy.value);
      speaker.x.push_back(ctx.turns), speaker.y.push_back(ctx.speaker_accuracy.value);
      chance.x.push_back(ctx.turns), chance.y.push_back(ctx.mean_chance);
    }
    chart.series = {traits, speaker, chance};
    chart.reference_y = eval.contexts.front().speaker_chance;
    chart.reference_label = "speaker chance 1/K";
    write_file_atomic(dir / "sharpening.svg", report::render_svg(chart));
  }
  write_json_file(dir / "e1.json", eval.to_json(world));
}

}  // namespace masque::persona
