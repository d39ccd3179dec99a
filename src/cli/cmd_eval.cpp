// `masque eval persona`: persona evaluation (E1 statistics) of any model
// directory against a generated world, with report.md and charts. Logic lives
// in src/persona; this file maps flags to it.
#include <cstdio>
#include <memory>
#include <vector>

#include "cli/command.h"
#include "cli/steer_options.h"
#include "core/error.h"
#include "core/output_dir.h"
#include "core/progress.h"
#include "infer/model_dir.h"
#include "infer/model_generator.h"
#include "persona/e1_report.h"
#include "persona/persona_eval.h"
#include "vectors/steered_generator.h"
#include "world/score_file.h"

namespace {

using namespace masque;

struct EvalOpts {
  std::string model;
  std::string world;
  std::string out;
  int samples = 4;
  std::vector<int> turns = {0, 1, 3};
  int max_tokens = 64;
  float temperature = 1.0f;
  std::uint64_t seed = 1;
  int bootstrap = 1000;
  bool declarative_only = false;
  bool json = false;
  cli::SteerFlags steer_flags;  // --steer, --steer-positions (persona vectors)
};

void run_eval(const EvalOpts& opts) {
  // The report is written after minutes of sampling: check --out first.
  if (!opts.out.empty()) check_output_dir_writable(opts.out, "--out");
  const world::World world = world::load_world_path(opts.world);
  LoadedModel loaded = load_model_dir(opts.model);
  ModelTextGenerator model_generator(*loaded.model, loaded.tokenizer);
  const cli::Steering steering =
      cli::build_steering(opts.steer_flags, *loaded.model, loaded.tokenizer);
  vectors::SteeredTextGenerator generator(model_generator,
                                          steering.empty() ? nullptr : &steering.interventions);
  persona::PersonaEvalOptions o;
  o.samples = opts.samples;
  o.context_turns = opts.turns;
  o.max_tokens = opts.max_tokens;
  o.temperature = opts.temperature;
  o.seed = opts.seed;
  o.bootstrap = opts.bootstrap;
  o.declarative_only = opts.declarative_only;
  o.progress = progress_enabled() && !opts.json;
  const persona::PersonaEvalResult result = persona::evaluate_personas(world, generator, o);
  if (!opts.out.empty()) {
    persona::E1ReportInputs report;
    report.world = &world;
    report.eval = &result;
    report.title = "masque: persona evaluation of " + loaded.dir.string();
    report.setup = {{"model", loaded.dir.string()}, {"world", opts.world}};
    if (!steering.empty()) report.setup.push_back({"steering", steering.describe()});
    persona::write_e1_report(report, opts.out);
  }
  if (opts.json) {
    std::printf("%s\n", json_line(result.to_json(world)).c_str());
    return;
  }
  std::printf("%s\n", persona::e1_summary_table(result).c_str());
  std::printf("persona acquisition %s chance%s\n",
              persona::above_chance(result) ? "is clearly above" : "is NOT clearly above",
              opts.out.empty() ? "" : cat("; report in ", opts.out).c_str());
}

masque::cli::CommandRegistrar reg("eval", [](CLI::App& app) {
  auto* eval = app.add_subcommand("eval", "Evaluate a model");
  eval->require_subcommand(1);
  auto* cmd = eval->add_subcommand(
      "persona", "Persona evaluation against a world's ground truth (docs/persona-eval.md)");
  auto o = std::make_shared<EvalOpts>();
  cmd->add_option("--model", o->model, "Model directory (RUN_DIR, checkpoint or HF directory)")
      ->required();
  cmd->add_option("--world", o->world, "World directory (or its world.json)")->required();
  cmd->add_option("--out", o->out, "Write report.md, SVG charts and e1.json here");
  cmd->add_option("--samples", o->samples, "Responses per character and context length")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--turns", o->turns, "In-context turns to test (e.g. --turns 0 1 3)")
      ->check(CLI::Range(0, 16));
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens per response")->check(CLI::Range(1, 1024));
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (0 = greedy)")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--seed", o->seed, "Seed for prompts, sampling and the bootstrap");
  cmd->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples for the 95% intervals")
      ->check(CLI::Range(0, 100000));
  cmd->add_flag("--declarative-only", o->declarative_only,
                "Evaluate only the declarative-only characters (E5)");
  cmd->add_flag("--json", o->json, "Machine-readable results");
  cli::add_steer_flags(cmd, o->steer_flags);
  cmd->callback([o] { run_eval(*o); });
});

}  // namespace
