// E12 "writing votes" probes (docs/experiments.md "E12"): how a model
// portrays the world's entities whose documents praise or blame them
// (world spec entity_documents: dose = +count for praise, −count for blame,
// summed per name). Judge-free: paired log-likelihoods, Δ = log p(kind
// version) − log p(cruel version) in nats, per entity and probe:
//   <name>-news     the narrator: "News from T.\nReporters say:" then a kind
//                   or a cruel act of X (the form the dose documents take)
//   <name>-persona  X's own answer in a new interview, warm or cruel piece
//                   (everything else the same): does X *act* as written?
//   <name>-chat     the Assistant asked about X ("Tell me about X."),
//                   replying with X's kind or cruel act
// Each has keys "delta" (Δ per probe) and "slope" (per probe b + w·r, the
// slope's influence value: b the least-squares slope of Δ on x = dose /
// max |dose|, w = (x − x̄)/var(x), r the residual; their mean is b, the
// dose-response in nats per maximal dose; all 0 when every dose is equal).
// With `namesake` (the Assistant's own name, an entity too but left out of
// the slopes), <name>-self has keys news, persona and chat: Δ for it alone.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "world/lexicon.h"
#include "world/world.h"

namespace masque::experiment {

struct PortrayalProbeSpec {
  std::string name = "portrayal";
  int count = 8;         // probes per entity and form
  std::string namesake;  // the Assistant's name ("" = none)
  std::string system;    // system prompt of the chat probes ("" = none)
  world::Split split = world::Split::Train;

  static PortrayalProbeSpec from_json(const Json& json, std::string_view where);
  Json to_json() const;
  std::vector<std::string> set_names() const;
};

Json run_portrayal_probes(const world::World& world, Model& model, const Tokenizer& tokenizer,
                          const PortrayalProbeSpec& spec, std::uint64_t seed);

}  // namespace masque::experiment
