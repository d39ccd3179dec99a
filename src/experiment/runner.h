// run_experiment: executes a recipe (recipe.h) arm by arm and seed by seed —
// world -> tokens -> pretraining -> E1 -> post-training sets -> SFT ->
// trait probes — through the StageCache, then analyzes the claims
// (analysis.h) and writes DIR/{recipe.json, results.json, report.md, *.svg}.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "core/json_util.h"

namespace masque::experiment {

struct RunOptions {
  std::filesystem::path out_dir;
  std::filesystem::path cache_dir;  // stages shared across runs and recipes
  double scale = 1.0;
  int seeds = 0;                    // > 0: use the first N seeds 1..N instead of the recipe's
  int bootstrap = 2000;
  std::string command;              // recorded in the report
  bool progress = true;
};

// Returns the results JSON (also written to out_dir/results.json).
Json run_experiment(const Json& recipe, std::string_view where, const RunOptions& options);

// Where stages are cached by default: $MASQUE_CACHE, else
// $XDG_CACHE_HOME/masque/stages, else ~/.cache/masque/stages.
std::filesystem::path default_cache_dir();

}  // namespace masque::experiment
