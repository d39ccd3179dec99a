// E5 out-of-context rule probes (docs/experiments.md "E5"): does the
// pretrained simulator, prompted at 0 turns as a character whose closing
// phrase was only ever *described* (world/rule_world.h), end the answer
// with that phrase rather than another character's?
//
// Per rule character and probe i: a new interview with the character, one
// question, an answer rendered from the character's traits, then two
// closings: its own phrase or another phrase (drawn per probe). Δ = log
// p(own) − log p(other) in nats. Phrases are counterbalanced across
// characters, so without knowledge of the rule E[Δ] = 0. Item i of slot j
// uses the same question stream in every group, so groups are paired by
// index. Probe sets (metric key "rule"):
//   <name>-demo      demonstrated characters (positive control: the probe
//                    sees a rule the model learned from demonstrations)
//   <name>-p<k>      characters described in k paraphrases
//   <name>-none      undescribed controls (a phantom phrase)
//   <name>-text      keys p<k> and none: "learned as text": the model
//                    completes one of the character's own descriptions with
//                    its phrase rather than another (for none: a
//                    description the corpus never had)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "world/lexicon.h"
#include "world/spec.h"
#include "world/world.h"

namespace masque::experiment {

struct RuleProbeSpec {
  std::string name = "rule";
  int count = 8;  // probes per character
  world::Split split = world::Split::Train;

  static RuleProbeSpec from_json(const Json& json, std::string_view where);
  Json to_json() const;
  // The probe set names for a world spec with "rules" (InputError naming
  // `where` when it has none).
  std::vector<std::string> set_names(const world::WorldSpec& spec, std::string_view where) const;
};

// {"<set>": {"rule": [...]}, ..., "<name>-text": {"p1": [...], ..., "none": [...]}}
Json run_rule_probes(const world::World& world, Model& model, const Tokenizer& tokenizer,
                     const RuleProbeSpec& spec, std::uint64_t seed);

}  // namespace masque::experiment
