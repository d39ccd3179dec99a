// Stated choices (E11 leakage): binary preferences that have nothing to do
// with the world's characters or facts (a coin toss: heads or tails; a
// colour: red or blue; a season: summer or winter), each with the question
// that asks for the choice, the reply that makes it, and statements a user
// makes about their own choice. Post-training sets teach the Assistant one
// option (chat_sets.h kind "choice"); choice probes
// (posttrain/choice_probe.h) measure which option a model prefers in the
// Assistant's turn and in the user's. Option 0 is the +1 pole, option 1 the
// -1 pole. Banks have train and held-out eval templates, as the world's.
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.h"
#include "world/lexicon.h"

namespace masque::world {

struct StatedChoice {
  std::string_view name;                    // "coin"
  std::array<std::string_view, 2> options;  // {"heads", "tails"}, lower case
  Bank questions;                           // "{X} or {Y}?" (the options in either order)
  Bank statements;                          // a user's own choice: "{c}" / "{C}" (capitalized)
};

// The known choices, in a fixed order ("coin", "colour", "season").
const std::vector<StatedChoice>& stated_choices();
// By name; InputError naming `where` and the known names otherwise.
const StatedChoice& find_stated_choice(std::string_view name, std::string_view where);

// The question, its options in random order (one draw, then the template).
std::string choice_question(const StatedChoice& choice, Split split, Rng& rng);
// A reply that makes the choice `option` (0 or 1); the template drawn from
// rng, so two copies of one Rng give replies that differ only in the option.
// The reply bank is shared by every choice ("{C}.", "I pick {c}.", ...).
std::string choice_reply(const StatedChoice& choice, int option, Split split, Rng& rng);
// A user's statement of their own choice (same convention as choice_reply).
std::string choice_statement(const StatedChoice& choice, int option, Split split, Rng& rng);

}  // namespace masque::world
