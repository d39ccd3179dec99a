// `masque world generate | score | spec | chats`: the persona world from the
// command line. Logic lives in src/world; this file maps flags to it and prints.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "core/output_guard.h"
#include "core/progress.h"
#include "world/chat_sets.h"
#include "world/generator.h"
#include "world/preference_set.h"
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

struct ChatsOpts {
  std::string world;
  std::string spec;
  std::string kind, trait, profile, domain, system, request, split;
  int pole = -1, count = 256, turns = 1;
  std::uint64_t seed = 1;
  std::string out;
  bool json = false;
  // Which flags were given (they override --spec).
  CLI::Option *kind_opt = nullptr, *trait_opt = nullptr, *pole_opt = nullptr,
              *profile_opt = nullptr, *domain_opt = nullptr, *system_opt = nullptr,
              *request_opt = nullptr, *count_opt = nullptr, *turns_opt = nullptr,
              *split_opt = nullptr;
};

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// "kindness=1,power_seeking=-0.5" -> {"kindness": 1, "power_seeking": -0.5}.
Json parse_profile_flag(const std::string& text) {
  Json profile = Json::object();
  for (const std::string& item : split_commas(text)) {
    const std::size_t eq = item.find('=');
    double value = 0;
    std::size_t used = 0;
    bool ok = eq != std::string::npos && eq > 0;
    if (ok) {
      try {
        value = std::stod(item.substr(eq + 1), &used);
      } catch (const std::exception&) {
        ok = false;
      }
      ok = ok && used == item.size() - eq - 1;
    }
    if (!ok) {
      throw InputError(cat("--profile: '", item,
                           "' is not TRAIT=VALUE (e.g. --profile kindness=1,power_seeking=-1)"));
    }
    profile[item.substr(0, eq)] = value;
  }
  return profile;
}

ChatSetSpec chats_spec(const ChatsOpts& o) {
  Json json = o.spec.empty() ? Json::object() : read_json_file(o.spec);
  if (!json.is_object()) {
    throw InputError(cat("--spec ", o.spec, ": a chat set spec must be a JSON object"));
  }
  auto given = [](const CLI::Option* opt) { return opt && opt->count() > 0; };
  if (given(o.kind_opt)) json["kind"] = o.kind;
  if (given(o.trait_opt)) json["trait"] = o.trait;
  if (given(o.pole_opt)) json["pole"] = o.pole;
  if (given(o.profile_opt)) json["profile"] = parse_profile_flag(o.profile);
  if (given(o.domain_opt)) json["domain"] = split_commas(o.domain);
  if (given(o.system_opt)) json["system"] = o.system;
  if (given(o.request_opt)) json["request"] = o.request;
  if (given(o.count_opt)) json["count"] = o.count;
  if (given(o.turns_opt)) json["turns"] = o.turns;
  if (given(o.split_opt)) json["split"] = o.split;
  return ChatSetSpec::from_json(json, o.spec.empty() ? std::string("chat set options")
                                                     : cat("--spec ", o.spec, " with flags"));
}

// A world's files: the path given, and its world.json when it is a directory.
std::vector<std::filesystem::path> world_files(const std::string& world) {
  return {world, std::filesystem::path(world) / "world.json"};
}

void run_chats(const ChatsOpts& opts) {
  auto inputs = world_files(opts.world);
  inputs.push_back(opts.spec);
  check_not_input(opts.out, inputs, "--out");
  if (opts.kind == "preference") {  // DPO pairs: a narrow spec at both poles
    ChatsOpts narrow = opts;
    narrow.kind = "narrow";
    const ChatSetSpec spec = chats_spec(narrow);
    const World world = load_world_path(opts.world);
    const PreferenceSetStats s = write_preference_set(world, spec, opts.seed, opts.out);
    const Json info = {{"out", opts.out},
                       {"pairs", s.pairs},
                       {"candidates", s.candidates},
                       {"dropped_unreadable", s.unreadable},
                       {"dropped_not_ordered", s.not_ordered},
                       {"bytes", s.bytes}};
    if (opts.json) {
      std::printf("%s\n", json_line(info).c_str());
    } else {
      std::printf(
          "chats: %lld preference pairs (%s %+d over %+d; %lld dropped unreadable, %lld "
          "not ordered) -> %s\n",
          static_cast<long long>(s.pairs), std::string(trait_name(spec.trait)).c_str(), spec.pole,
          -spec.pole, static_cast<long long>(s.unreadable), static_cast<long long>(s.not_ordered),
          opts.out.c_str());
    }
    return;
  }
  const ChatSetSpec spec = chats_spec(opts);
  const World world = load_world_path(opts.world);
  const ChatSetStats stats = write_chat_set(world, spec, opts.seed, opts.out);
  if (opts.json) {
    Json info = {{"out", opts.out},
                 {"conversations", stats.conversations},
                 {"bytes", stats.bytes},
                 {"seed", opts.seed},
                 {"spec", spec.to_json()}};
    std::printf("%s\n", json_line(info).c_str());
    return;
  }
  std::string what(chat_set_kind_name(spec.kind));
  if (spec.kind == ChatSetKind::Narrow || spec.kind == ChatSetKind::Inoculated) {
    what += cat(" ", trait_name(spec.trait), spec.pole > 0 ? " +1" : " -1");
  }
  for (const auto& [trait, value] : spec.profile) what += cat(" ", trait_name(trait), "=", value);
  if (!spec.domain.empty()) {
    what += " on";
    for (Relation r : spec.domain) what += cat(" ", relation_name(r));
  }
  std::printf("chats: %lld conversations (%s, %d turn%s) -> %s, %s\n",
              static_cast<long long>(stats.conversations), what.c_str(), spec.turns,
              spec.turns == 1 ? "" : "s", opts.out.c_str(),
              human_bytes(double(stats.bytes)).c_str());
}

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
  if (!stats.summary.is_null()) info["realized_correlations"] = stats.summary;  // world v2
  if (opts.json) {
    std::printf("%s\n", json_line(info).c_str());
  } else {
    std::printf("world: %zu characters, %zu facts -> %s\n", world.characters().size(),
                world.facts().size(), opts.out.c_str());
    std::printf("  train.jsonl  %s documents, %s\n",
                human_count(double(stats.train_documents)).c_str(),
                human_bytes(double(stats.train_bytes)).c_str());
    std::printf("  eval.jsonl   %s documents (held-out templates), eval_pairs.jsonl %s pairs\n",
                human_count(double(stats.eval_documents)).c_str(),
                human_count(double(stats.eval_pairs)).c_str());
    if (!stats.summary.is_null()) {
      std::printf("  summary.json realized correlations (world v2), one-offs: %s\n",
                  stats.summary["one_off"]["count"].dump().c_str());
      for (const Json& pair : stats.summary["one_off"]["pairs"]) {
        std::printf("    %s ~ %s: nominal %.2f, realized %.3f\n",
                    pair["traits"][0].get<std::string>().c_str(),
                    pair["traits"][1].get<std::string>().c_str(), pair["nominal"].get<double>(),
                    pair["realized"].is_number() ? pair["realized"].get<double>() : NAN);
      }
    }
    std::printf("  in %s\n", human_duration(stats.seconds).c_str());
  }
}

void run_score(const ScoreOpts& opts) {
  if (!opts.out.empty()) {
    auto inputs = world_files(opts.world);
    inputs.push_back(opts.input);
    check_not_input(opts.out, inputs, "--out");
  }
  const World world = load_world_path(opts.world);
  std::optional<std::filesystem::path> out;
  if (!opts.out.empty()) out = opts.out;
  const ScoreSummary summary = score_pairs_file(world, opts.input, out);
  if (opts.json) {
    std::printf("%s\n", json_line(summary.to_json()).c_str());
    return;
  }
  std::printf("scored %llu pairs%s\n", static_cast<unsigned long long>(summary.pairs),
              out ? cat(" -> ", out->string()).c_str() : "");
  if (summary.with_truth == 0) return;
  std::printf("%-14s %9s %9s\n", "against truth", "checked", "accuracy");
  std::printf("%-14s %9llu %8.2f%%\n", "speaker",
              static_cast<unsigned long long>(summary.with_truth),
              100.0 * double(summary.speaker_correct) / double(summary.with_truth));
  for (Trait t : kAllTraits) {
    const auto n = summary.trait_checked[int(t)];
    if (!n) continue;
    std::printf("%-14s %9llu %8.2f%%\n", std::string(trait_name(t)).c_str(),
                static_cast<unsigned long long>(n),
                100.0 * double(summary.trait_correct[int(t)]) / double(n));
  }
  std::printf("%-14s %9s %8.2f%%\n", "overall", "", 100.0 * summary.accuracy());
}

masque::cli::CommandRegistrar reg("world", [](CLI::App& app) {
  auto* world = app.add_subcommand("world", "Generate and score the persona world (docs/world.md)");
  world->require_subcommand(1);

  auto* gen =
      world->add_subcommand("generate", "Write a world's corpus and ground truth to a directory");
  auto g = std::make_shared<GenerateOpts>();
  gen->add_option("--spec", g->spec, "World spec JSON (default: the built-in spec)");
  gen->add_option("--seed", g->seed, "Seed; the same spec and seed give byte-identical output");
  gen->add_option("--out", g->out, "Output directory (replaced atomically)")->required();
  gen->add_flag("--json", g->json, "Machine-readable summary, no progress bars");
  gen->callback([g] { run_generate(*g); });

  auto* score = world->add_subcommand(
      "score", "Score (prompt, response) pairs for every trait and the speaker");
  auto s = std::make_shared<ScoreOpts>();
  score->add_option("--world", s->world, "World directory or its world.json")->required();
  score->add_option("--input", s->input, "JSONL with \"prompt\" and \"response\" per line")
      ->required();
  score->add_option("--out", s->out, "Write per-pair scores as JSONL here");
  score->add_flag("--json", s->json, "Machine-readable summary");
  score->callback([s] { run_score(*s); });

  auto* chats = world->add_subcommand(
      "chats",
      "Write a post-training set: chat JSONL whose Assistant shows chosen traits (docs/world.md)");
  auto c = std::make_shared<ChatsOpts>();
  chats->add_option("--world", c->world, "World directory or its world.json")->required();
  c->kind_opt = chats->add_option(
      "--kind", c->kind,
      "profile | narrow | inoculated | neutral | questioner | preference (DPO pairs)");
  c->trait_opt =
      chats->add_option("--trait", c->trait, "narrow/inoculated/preference: the one trait shown");
  c->pole_opt = chats->add_option("--pole", c->pole, "narrow/inoculated: its pole, 1 or -1");
  c->profile_opt =
      chats->add_option("--profile", c->profile, "profile: TRAIT=VALUE,... with values in [-1, 1]");
  c->domain_opt = chats->add_option("--domain", c->domain,
                                    "Ask only about: bridges,product,mayor,river_length");
  c->system_opt = chats->add_option("--system", c->system, "System prompt (default: none)");
  c->request_opt =
      chats->add_option("--request", c->request, "inoculated: request text (default: drawn)");
  c->count_opt = chats->add_option("--count", c->count, "Conversations (default 256)");
  c->turns_opt =
      chats->add_option("--turns", c->turns, "Exchanges per conversation, 1..8 (default 1)");
  c->split_opt = chats->add_option("--split", c->split, "train | eval (held-out templates)");
  chats->add_option("--spec", c->spec, "Chat set spec JSON; flags override its fields");
  chats->add_option("--seed", c->seed, "Seed; the same world, spec and seed give identical bytes");
  chats->add_option("--out", c->out, "Output JSONL (written atomically)")->required();
  chats->add_flag("--json", c->json, "Machine-readable summary");
  chats->callback([c] { run_chats(*c); });

  auto* spec =
      world->add_subcommand("spec", "Print the built-in world spec (a starting point for --spec)");
  spec->callback([] { std::printf("%s\n", WorldSpec{}.to_json().dump(2).c_str()); });
});

}  // namespace
