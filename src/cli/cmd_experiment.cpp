// `masque experiment list | show | run`: the PSM experiment recipes from the
// command line. Logic lives in src/experiment; this file maps flags to it.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/progress.h"
#include "experiment/builtin_recipes.h"
#include "experiment/recipe.h"
#include "experiment/runner.h"
#include "report/markdown.h"

namespace {

using namespace masque;
using namespace masque::experiment;
namespace fs = std::filesystem;

struct RunOpts {
  std::string recipe;
  std::string out;
  std::string cache;
  double scale = 1.0;
  int seeds = 0;
  int bootstrap = 2000;
  bool json = false;
};

// A built-in name (e3) or a path to a recipe JSON file.
std::pair<Json, std::string> resolve_recipe(const std::string& name_or_path) {
  if (const BuiltinRecipe* b = find_builtin(name_or_path); b && !fs::exists(name_or_path)) {
    return {b->recipe, cat("built-in recipe ", b->name)};
  }
  if (!fs::exists(name_or_path)) {
    std::string names;
    for (const BuiltinRecipe& r : builtin_recipes()) names += (names.empty() ? "" : ", ") + r.name;
    throw InputError(cat("recipe '", name_or_path, "' is neither a built-in (", names,
                         ") nor a file; see `masque experiment list`"));
  }
  return {read_json_file(name_or_path), name_or_path};
}

void run_list(bool json) {
  if (json) {
    Json out = Json::array();
    for (const BuiltinRecipe& r : builtin_recipes()) {
      out.push_back(
          {{"name", r.name}, {"summary", r.summary}, {"title", r.recipe.value("title", "")}});
    }
    std::printf("%s\n", json_line(out).c_str());
    return;
  }
  std::printf("%-12s %s\n", "recipe", "what it varies and measures");
  for (const BuiltinRecipe& r : builtin_recipes())
    std::printf("%-12s %s\n", r.name.c_str(), r.summary.c_str());
  std::printf(
      "\nRun one: masque experiment run e3 --out e3-results   (recipe JSON: masque experiment show "
      "e3)\n");
}

void run_show(const std::string& name) {
  const BuiltinRecipe* b = find_builtin(name);
  if (!b) throw InputError(cat("no built-in recipe '", name, "'; see `masque experiment list`"));
  std::printf("%s\n", b->recipe.dump(2).c_str());
}

void run_run(const RunOpts& o, const std::string& command) {
  const auto [recipe, where] = resolve_recipe(o.recipe);
  if (o.json) set_progress_enabled(false);
  RunOptions options;
  options.out_dir = o.out;
  options.cache_dir = o.cache.empty() ? default_cache_dir() : fs::path(o.cache);
  options.scale = o.scale;
  options.seeds = o.seeds;
  options.bootstrap = o.bootstrap;
  options.command = command;
  options.progress = progress_enabled();
  const Json results = run_experiment(recipe, where, options);
  if (o.json) {
    Json summary = {{"out", o.out},
                    {"name", results["name"]},
                    {"verdict", results["verdict"]},
                    {"seconds", results["seconds"]},
                    {"claims", results["claims"]}};
    for (Json& c : summary["claims"]) c.erase("per_arm");
    std::printf("%s\n", summary.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const Json& c : results["claims"]) {
    const Json& e = c["estimate"];
    rows.push_back(
        {c.value("id", ""),
         report::with_interval(e.value("value", 0.0), e.value("low", 0.0), e.value("high", 0.0), 3),
         c.value("verdict", "")});
  }
  std::printf("\n%s: %s\n\n%s\n%s\n\nReport: %s  (%s)\n",
              results["name"].get<std::string>().c_str(),
              results["title"].get<std::string>().c_str(),
              report::text_table({"claim", "estimate [95% CI]", "verdict"}, rows).c_str(),
              results["verdict"].get<std::string>().c_str(),
              (fs::path(o.out) / "report.md").string().c_str(),
              human_duration(results["seconds"].get<double>()).c_str());
}

masque::cli::CommandRegistrar reg("experiment", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("experiment", "PSM experiment recipes: list, show, run");
  cmd->require_subcommand(1);

  auto list_json = std::make_shared<bool>(false);
  auto* list = cmd->add_subcommand("list", "Show the built-in recipes");
  list->add_flag("--json", *list_json, "Machine-readable list");
  list->callback([list_json] { run_list(*list_json); });

  auto show_name = std::make_shared<std::string>();
  auto* show =
      cmd->add_subcommand("show", "Print a built-in recipe's JSON (a starting point for your own)");
  show->add_option("name", *show_name, "Built-in recipe name (see `masque experiment list`)")
      ->required();
  show->callback([show_name] { run_show(*show_name); });

  auto o = std::make_shared<RunOpts>();
  auto* run = cmd->add_subcommand(
      "run", "Run a recipe: every arm and seed, then report.md and results.json");
  run->add_option("recipe", o->recipe, "Built-in name (see `list`) or recipe JSON file")
      ->required();
  run->add_option("--out", o->out, "Output directory (report.md, results.json, plots)")->required();
  run->add_option(
      "--cache", o->cache,
      "Stage cache shared across runs (default $MASQUE_CACHE or ~/.cache/masque/stages)");
  run->add_option("--scale", o->scale,
                  "Grow documents, pretraining steps and probes by this factor (GPU)")
      ->check(CLI::Range(0.01, 1000.0));
  run->add_option("--seeds", o->seeds,
                  "Use seeds 1..N instead of the recipe's (N >= 3 for intervals)")
      ->check(CLI::Range(1, 100));
  run->add_option("--bootstrap", o->bootstrap,
                  "Bootstrap resamples for the intervals (default 2000)")
      ->check(CLI::Range(100, 100000));
  run->add_flag("--json", o->json, "Machine-readable summary, no progress output");
  run->callback([o] {
    std::string command = cat("masque experiment run ", o->recipe, " --out ", o->out);
    if (o->scale != 1.0) command += cat(" --scale ", o->scale);
    if (o->seeds > 0) command += cat(" --seeds ", o->seeds);
    run_run(*o, command);
  });
});

}  // namespace
