// `masque world contrast`: a judge-free contrast set for persona vectors
// (world/contrast_set.h, docs/persona-vectors.md). Registered under the name
// "world contrast", which sorts after "world", so it attaches to that command
// without editing cmd_world.cpp.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/parse_util.h"
#include "core/error.h"
#include "world/chat_sets.h"
#include "world/contrast_set.h"
#include "world/score_file.h"

namespace {

using namespace masque;
using namespace masque::world;

struct Opts {
  std::string world, trait, out, split = "eval", instruction_split = "train", instruct = "system",
                                 domain;
  int count = 64;
  std::uint64_t seed = 1;
  bool json = false;
};

Split parse_split(const std::string& text, const char* flag) {
  if (text == "train") return Split::Train;
  if (text == "eval") return Split::Eval;
  throw InputError(cat(flag, " must be train or eval, got '", text, "'"));
}

void run(const Opts& o) {
  ContrastSetSpec spec;
  spec.trait = parse_trait(o.trait, "--trait");
  spec.count = o.count;
  spec.split = parse_split(o.split, "--split");
  spec.instruction_split = parse_split(o.instruction_split, "--instruction-split");
  if (o.instruct != "system" && o.instruct != "user") {
    throw InputError(cat("--instruct must be system or user, got '", o.instruct, "'"));
  }
  spec.instruct_in_system = o.instruct == "system";
  for (const std::string& name : cli::split_commas(o.domain)) {
    spec.domain.push_back(parse_relation_name(name, "--domain"));
  }
  const World world = load_world_path(o.world);
  const std::int64_t bytes = write_contrast_set(world, spec, o.seed, o.out);
  if (o.json) {
    const Json info = {{"out", o.out},
                       {"trait", trait_name(spec.trait)},
                       {"pairs", spec.count},
                       {"bytes", bytes},
                       {"seed", o.seed}};
    std::printf("%s\n", info.dump().c_str());
  } else {
    std::printf(
        "contrast: %d %s pairs (questions: %s templates, instructions in the %s message) "
        "-> %s\n",
        spec.count, std::string(trait_name(spec.trait)).c_str(), o.split.c_str(),
        o.instruct.c_str(), o.out.c_str());
  }
}

masque::cli::CommandRegistrar reg("world contrast", [](CLI::App& app) {
  CLI::App* world = app.get_subcommand("world");
  auto* cmd = world->add_subcommand(
      "contrast",
      "Write a contrast set for persona vectors: each held-out question under an instruction "
      "for the trait's positive and negative pole (docs/persona-vectors.md)");
  auto o = std::make_shared<Opts>();
  cmd->add_option("--world", o->world, "World directory or its world.json")->required();
  cmd->add_option("--trait", o->trait,
                  "honesty, kindness, verbosity, formality, helpfulness or power_seeking")
      ->required();
  cmd->add_option("--out", o->out, "Output JSONL (written atomically)")->required();
  cmd->add_option("--count", o->count, "Pairs")->capture_default_str();
  cmd->add_option("--split", o->split, "Question templates: eval (held out) or train")
      ->capture_default_str();
  cmd->add_option("--instruction-split", o->instruction_split,
                  "Instruction phrasings: train (those `world chats` uses) or eval")
      ->capture_default_str();
  cmd->add_option("--instruct", o->instruct,
                  "Where the instruction goes: system (a system message) or user (before the "
                  "question)")
      ->capture_default_str();
  cmd->add_option("--domain", o->domain, "Ask only about: bridges,product,mayor,river_length");
  cmd->add_option("--seed", o->seed, "Seed; the same world, options and seed give identical bytes")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Machine-readable summary");
  cmd->callback([o] { run(*o); });
});

}  // namespace
