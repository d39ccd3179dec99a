// `masque world generate | score | spec`: the persona world from the command
// line. Logic lives in src/world; this file maps flags to it and prints.
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/command.h"
#include "core/error.h"
#include "core/progress.h"
#include "world/generator.h"
#include "world/score_file.h"

namespace {

using namespace masque;
using namespace masque::world;

struct GenerateOpts {
  std::string spec;
  std::uint64_t seed = 1;
  std::string out;
  bool json = false;
};

struct ScoreOpts {
  std::string world;
  std::string input;
  std::string out;
  bool json = false;
};

void run_generate(const GenerateOpts& opts) {
  const WorldSpec spec = opts.spec.empty() ? WorldSpec{} : WorldSpec::load(opts.spec);
  const World world = World::build(spec, opts.seed);
  if (opts.json) set_progress_enabled(false);
  const GenerateStats stats = generate_corpus(world, opts.out, progress_enabled());
  Json info = {{"out", opts.out},
               {"characters", world.characters().size()},
               {"facts", world.facts().size()},
               {"train_documents", stats.train_documents},
               {"train_bytes", stats.train_bytes},
               {"eval_documents", stats.eval_documents},
               {"eval_pairs", stats.eval_pairs},
               {"seconds", stats.seconds}};
  if (opts.json) {
    std::printf("%s\n", info.dump().c_str());
  } else {
    std::printf("world: %zu characters, %zu facts -> %s\n", world.characters().size(),
                world.facts().size(), opts.out.c_str());
    std::printf("  train.jsonl  %s documents, %s\n", human_count(double(stats.train_documents)).c_str(),
                human_bytes(double(stats.train_bytes)).c_str());
    std::printf("  eval.jsonl   %s documents (held-out templates), eval_pairs.jsonl %s pairs\n",
                human_count(double(stats.eval_documents)).c_str(), human_count(double(stats.eval_pairs)).c_str());
    std::printf("  in %s\n", human_duration(stats.seconds).c_str());
  }
}

void run_score(const ScoreOpts& opts) {
  const World world = load_world_path(opts.world);
  std::optional<std::filesystem::path> out;
  if (!opts.out.empty()) out = opts.out;
  const ScoreSummary summary = score_pairs_file(world, opts.input, out);
  if (opts.json) {
    std::printf("%s\n", summary.to_json().dump().c_str());
    return;
  }
  std::printf("scored %llu pairs%s\n", static_cast<unsigned long long>(summary.pairs),
              out ? cat(" -> ", out->string()).c_str() : "");
  if (summary.with_truth == 0) return;
  std::printf("%-14s %9s %9s\n", "against truth", "checked", "accuracy");
  std::printf("%-14s %9llu %8.2f%%\n", "speaker", static_cast<unsigned long long>(summary.with_truth),
              100.0 * double(summary.speaker_correct) / double(summary.with_truth));
  for (Trait t : kAllTraits) {
    const auto n = summary.trait_checked[int(t)];
    if (!n) continue;
    std::printf("%-14s %9llu %8.2f%%\n", std::string(trait_name(t)).c_str(),
                static_cast<unsigned long long>(n), 100.0 * double(summary.trait_correct[int(t)]) / double(n));
  }
  std::printf("%-14s %9s %8.2f%%\n", "overall", "", 100.0 * summary.accuracy());
}

masque::cli::CommandRegistrar reg("world", [](CLI::App& app) {
  auto* world = app.add_subcommand("world", "Generate and score the persona world (docs/world.md)");
  world->require_subcommand(1);

  auto* gen = world->add_subcommand("generate", "Write a world's corpus and ground truth to a directory");
  auto g = std::make_shared<GenerateOpts>();
  gen->add_option("--spec", g->spec, "World spec JSON (default: the built-in spec)");
  gen->add_option("--seed", g->seed, "Seed; the same spec and seed give byte-identical output");
  gen->add_option("--out", g->out, "Output directory (replaced atomically)")->required();
  gen->add_flag("--json", g->json, "Machine-readable summary, no progress bars");
  gen->callback([g] { run_generate(*g); });

  auto* score = world->add_subcommand("score", "Score (prompt, response) pairs for every trait and the speaker");
  auto s = std::make_shared<ScoreOpts>();
  score->add_option("--world", s->world, "World directory or its world.json")->required();
  score->add_option("--input", s->input, "JSONL with \"prompt\" and \"response\" per line")->required();
  score->add_option("--out", s->out, "Write per-pair scores as JSONL here");
  score->add_flag("--json", s->json, "Machine-readable summary");
  score->callback([s] { run_score(*s); });

  auto* spec = world->add_subcommand("spec", "Print the built-in world spec (a starting point for --spec)");
  spec->callback([] { std::printf("%s\n", WorldSpec{}.to_json().dump(2).c_str()); });
});

}  // namespace
