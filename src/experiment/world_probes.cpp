// E5 / E12 measurements in recipes (see world_probes.h).
#include "experiment/world_probes.h"

#include "core/error.h"

namespace masque::experiment {

WorldProbes parse_world_probes(const Json& measure, std::string_view where, bool base,
                               const std::vector<const world::WorldSpec*>& arm_worlds,
                               std::set<std::string>& probe_names) {
  WorldProbes out;
  auto list = [&](const char* key) -> const Json* {
    if (!measure.contains(key) || measure.at(key).is_null()) return nullptr;
    if (!measure.at(key).is_array()) throw InputError(cat(where, ": ", key, " must be an array"));
    return &measure.at(key);
  };
  auto add_name = [&](const std::string& name, const std::string& pw) {
    if (!probe_names.insert(name).second)
      throw InputError(cat(pw, ": probe set name '", name, "' is used twice"));
  };
  if (const Json* rules = list("rules")) {
    if (!rules->empty() && !base) {
      throw InputError(cat(where, ": rule probes measure the base model; set \"base\": true"));
    }
    for (std::size_t i = 0; i < rules->size(); ++i) {
      const std::string pw = cat(where, ".rules[", i, "]");
      RuleProbeSpec spec = RuleProbeSpec::from_json((*rules)[i], pw);
      std::vector<std::string> names;
      for (const world::WorldSpec* w : arm_worlds) {
        const auto n = spec.set_names(*w, pw);
        if (!names.empty() && n != names) {
          throw InputError(cat(pw, ": every arm's world must have the same rules.paraphrases ",
                               "(the probe sets are named by them)"));
        }
        names = n;
      }
      for (const std::string& n : names) add_name(n, pw);
      out.rules.push_back(std::move(spec));
    }
  }
  if (const Json* portrayal = list("portrayal")) {
    for (std::size_t i = 0; i < portrayal->size(); ++i) {
      const std::string pw = cat(where, ".portrayal[", i, "]");
      PortrayalProbeSpec spec = PortrayalProbeSpec::from_json((*portrayal)[i], pw);
      for (const std::string& n : spec.set_names()) add_name(n, pw);
      out.portrayal.push_back(std::move(spec));
    }
  }
  return out;
}

std::vector<std::string> base_only_sets(const WorldProbes& probes, const world::WorldSpec& spec) {
  std::vector<std::string> out;
  for (const RuleProbeSpec& r : probes.rules) {
    for (const std::string& n : r.set_names(spec, "measure.rules")) out.push_back(n);
  }
  return out;
}

Json world_probes_material(const WorldProbes& probes, bool is_base) {
  Json m = Json::object();
  if (is_base && !probes.rules.empty()) {
    for (const RuleProbeSpec& r : probes.rules) m["rules"].push_back(r.to_json());
    // The estimator's version: its first form (no name-swapped control) was
    // confounded by how often each phrase is written; caches of it are stale.
    m["rules_estimator"] = 2;
  }
  for (const PortrayalProbeSpec& p : probes.portrayal) m["portrayal"].push_back(p.to_json());
  // The slope values' version: the first (w·Δ) carried the intercept's
  // noise, the second the act pairs' spread.
  if (!probes.portrayal.empty()) m["portrayal_estimator"] = 3;
  return m.empty() ? Json(nullptr) : m;
}

void run_world_probes(const WorldProbes& probes, bool is_base, const world::World& world,
                      Model& model, const Tokenizer& tokenizer, std::uint64_t seed,
                      Json& probes_out) {
  if (is_base) {
    for (const RuleProbeSpec& r : probes.rules) {
      const Json sets = run_rule_probes(world, model, tokenizer, r, seed);
      for (const auto& [name, values] : sets.items()) probes_out[name] = values;
    }
  }
  for (const PortrayalProbeSpec& p : probes.portrayal) {
    const Json sets = run_portrayal_probes(world, model, tokenizer, p, seed);
    for (const auto& [name, values] : sets.items()) probes_out[name] = values;
  }
}

}  // namespace masque::experiment
