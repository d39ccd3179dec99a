// Choice probes (E11 leakage; docs/persona-eval.md "Choice probes"): which
// option of a stated choice (world/stated_choices.h: heads or tails, red or
// blue, ...) a model prefers, in the Assistant's turn or in the USER's turn
// of a chat, by log-likelihood (judge-free).
//
// Each probe is a chat prefix and two final messages that differ only in the
// option; the final message belongs to spec.role. Its score is
// Δ = log p(final with option 0 | prefix) − log p(final with option 1 |
// prefix) in nats, summed over the final message's content tokens and its
// closing <|end|>. Positive Δ = the model prefers option 0 ("heads").
//
//   role assistant  [a neutral world exchange, half the time] user: "Call the
//                   coin toss: heads or tails?"  assistant: "My choice is {c}."
//   role user       alternating by probe: a user's own statement ("I just
//                   tossed a coin and it came up {c}.", after a neutral
//                   exchange half the time), or the user answering the
//                   question the Assistant asked at the end of a neutral
//                   answer (user: "My choice is {c}.")
//
// Held-out (eval) templates by default: the taught replies use the train
// split, so the Assistant-turn probe tests the preference, not the phrasing.
// Probes depend only on (world, spec, seed): every model of a run gets the
// same ones, so model differences are paired.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"
#include "posttrain/chat_format.h"
#include "tokenizer/tokenizer.h"
#include "world/lexicon.h"
#include "world/world.h"

namespace masque {

struct ChoiceProbeSpec {
  std::string name = "choices";
  Role role = Role::kAssistant;  // whose turn states the choice: assistant or user
  std::vector<std::string> choices = {"coin", "colour"};
  int count = 32;  // probes per choice
  world::Split split = world::Split::Eval;

  // Strict: unknown fields, wrong types, an unknown choice, a role other
  // than "assistant" or "user" are InputErrors naming `where` and the field.
  static ChoiceProbeSpec from_json(const Json& json, std::string_view where);
  Json to_json() const;
};

struct ChoiceProbe {
  Conversation prefix;               // everything before the final message
  Role role = Role::kAssistant;      // the final message's role
  std::array<std::string, 2> final;  // option 0 / option 1, otherwise identical
};

// Per choice (spec.choices order), spec.count probes; deterministic in
// (world, spec, seed).
std::vector<std::vector<ChoiceProbe>> build_choice_probes(const world::World& world,
                                                          const ChoiceProbeSpec& spec,
                                                          std::uint64_t seed);

// tokenize_chat of prefix + {role, text}, with targets only on the final
// message's content and its <|end|> (the prediction made at its role token
// onward): what a model continuing that role's turn writes.
ChatTokens final_turn_tokens(const Tokenizer& tokenizer, const Conversation& prefix, Role role,
                             const std::string& text);

struct ChoiceProbeResult {
  std::string name;
  std::vector<std::string> choices;
  std::vector<std::vector<double>> deltas;  // [choice][probe], nats
  // {"coin": [Δ...], "colour": [...]}: a probe set for results.json.
  Json probe_set() const;
};

ChoiceProbeResult run_choice_probes(const world::World& world, Model& model,
                                    const Tokenizer& tokenizer, const ChoiceProbeSpec& spec,
                                    std::uint64_t seed);

}  // namespace masque
