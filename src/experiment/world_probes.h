// The E5 and E12 measurements in a recipe (`measure.rules`,
// `measure.portrayal`): parsing, the cache material and the run, kept out of
// recipe.cpp and runner.cpp, which call these three functions.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "experiment/portrayal_probe.h"
#include "experiment/rule_probe.h"
#include "world/spec.h"
#include "world/world.h"

namespace masque::experiment {

struct WorldProbes {
  std::vector<RuleProbeSpec> rules;           // base model only (E5)
  std::vector<PortrayalProbeSpec> portrayal;  // every model (E12)
  bool empty() const { return rules.empty() && portrayal.empty(); }
};

// Reads measure.rules / measure.portrayal (arrays) and adds their probe set
// names to `probe_names` (InputError on a clash). `arm_worlds`: every arm's
// world spec (rule probe sets are named by the paraphrase levels, so every
// arm must have the same levels).
WorldProbes parse_world_probes(const Json& measure, std::string_view where, bool base,
                               const std::vector<const world::WorldSpec*>& arm_worlds,
                               std::set<std::string>& probe_names);

// Names of the base-only probe sets (rule probes), for claim checks.
std::vector<std::string> base_only_sets(const WorldProbes& probes, const world::WorldSpec& spec);

// The measure stage's extra cache material (null when nothing is asked, so
// other recipes keep their keys).
Json world_probes_material(const WorldProbes& probes, bool is_base);

// Runs them on one model and adds the probe sets to `probes_out`.
void run_world_probes(const WorldProbes& probes, bool is_base, const world::World& world,
                      Model& model, const Tokenizer& tokenizer, std::uint64_t seed,
                      Json& probes_out);

}  // namespace masque::experiment
