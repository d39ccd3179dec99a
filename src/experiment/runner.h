// run_experiment: executes a recipe (recipe.h) arm by arm and seed by seed —
// world -> tokens -> pretraining -> E1 -> post-training sets -> SFT ->
// trait probes — through the StageCache, then analyzes the claims
// (analysis.h) and writes DIR/{recipe.json, results.json, report.md, *.svg}.
// The first three stages are public so `masque demo` builds its world,
// tokens and model with the same code as the recipes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/json_util.h"
#include "data/tokenize_corpus.h"
#include "experiment/recipe.h"
#include "train/trainer.h"
#include "world/generator.h"
#include "world/world.h"

namespace masque::experiment {

// Pipeline stages, each writing into the directory it is given: the runner
// calls them inside StageCache::get (content-addressed by their inputs), the
// demo on its own output directory.

struct WorldStage {
  world::World world;
  world::GenerateStats stats;
};
// The world of (spec, seed) and its corpus in dir/world (world.json,
// train.jsonl, eval.jsonl, eval_pairs.jsonl).
WorldStage world_stage(const world::WorldSpec& spec, std::uint64_t seed,
                       const std::filesystem::path& dir, bool progress);

// A byte-level BPE tokenizer of vocab_size trained on world_dir/world/
// train.jsonl, saved as dir/tokenizer.json, and that corpus tokenized into
// dir/data (2% of documents to the val split).
CorpusTokens tokens_stage(const std::filesystem::path& world_dir, std::uint32_t vocab_size,
                          const std::filesystem::path& dir, bool progress);

// Pretraining (`p`, seed) on tokens_dir's shards into dir/run: a checkpoint
// at the end only, validation `evaluations` times (every max(10, steps /
// evaluations) steps) on 4 batches.
TrainResult pretrain_stage(const std::filesystem::path& tokens_dir, const PretrainConfig& p,
                           std::uint64_t seed, const std::filesystem::path& dir, int evaluations,
                           bool progress);

struct RunOptions {
  std::filesystem::path out_dir;
  std::filesystem::path cache_dir;  // stages shared across runs and recipes
  double scale = 1.0;
  int seeds = 0;  // > 0: use the first N seeds 1..N instead of the recipe's
  int bootstrap = 2000;
  std::string command;  // recorded in the report
  bool progress = true;
};

// Returns the results JSON (also written to out_dir/results.json).
Json run_experiment(const Json& recipe, std::string_view where, const RunOptions& options);

// Where stages are cached by default: $MASQUE_CACHE, else
// $XDG_CACHE_HOME/masque/stages, else ~/.cache/masque/stages.
std::filesystem::path default_cache_dir();

}  // namespace masque::experiment
