// The E1 (persona acquisition) report: report.md plus SVG charts (loss curve,
// trait agreement per trait, speaker confusion, sharpening with in-context
// turns) and a terminal summary table. Used by `masque demo` and `masque eval
// persona`; the experiment stage reuses the pieces.
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "persona/persona_eval.h"

namespace masque::persona {

struct E1ReportInputs {
  const world::World* world = nullptr;
  const PersonaEvalResult* eval = nullptr;
  std::vector<std::pair<std::int64_t, float>> train_curve, val_curve;  // may be empty
  // Free-form setup rows (e.g. {"model", "2 layers, d=128, 0.6M params"}).
  std::vector<std::pair<std::string, std::string>> setup;
  std::string title = "masque: persona acquisition (E1)";
};

// Verdict: the lower 95% bound of both the mean trait sign accuracy and the
// speaker accuracy (at the longest context) lie above their chance levels.
bool above_chance(const PersonaEvalResult& eval);

// Writes report.md, loss.svg (when a curve is given), traits.svg,
// speakers.svg, sharpening.svg and e1.json into `dir` (created if needed).
void write_e1_report(const E1ReportInputs& inputs, const std::filesystem::path& dir);

// Plain-text table: per context length, trait agreement and speaker
// identification against chance.
std::string e1_summary_table(const PersonaEvalResult& eval);

}  // namespace masque::persona
