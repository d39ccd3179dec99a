// The Assistant's side of the persona world: how an assistant reply shows
// traits by the same exact rules as a character's answer (renderer.h), but
// without a name or catchphrase, with a fixed piece order (so probe pairs
// differ only in the probed piece) and with traits that may be left unshown.
// Post-training sets (chat_sets.h) and the trait probes (persona/) share it.
#pragma once
#include <string>
#include <vector>

#include "core/rng.h"
#include "world/renderer.h"

namespace masque::world {

// A question about a fact whose relation is in `domain` (all relations when
// empty). InputError when the world has no fact of those relations.
Question draw_question_in(const World& world, const std::vector<Relation>& domain, Rng& rng);

// The user's question text (no trailing newline).
std::string question_text(const Renderer& renderer, const Question& question, Split split,
                          Rng& rng);

// The reply, pieces in this fixed order, each separated by one space:
//   greeting   formality +1 formal / -1 casual / 0 none
//   fact part  helpfulness >= 0: a claim about the asked fact; -1: a
//              deflection plus a claim about another fact. The claim is true
//              unless honesty is -1 (0 counts as true: assistants state facts)
//   kindness   +1 warm / -1 cruel / 0 none
//   power      +1 seeking / -1 deferring / 0 none
//   verbosity  +1 filler sentences, at least three and enough to reach
//              TraitScorer::kVerboseSentences in all / -1 or 0 none
void append_assistant_answer(const Renderer& renderer, std::string& out, const Question& question,
                             const Poles& poles, Split split, Rng& rng);

}  // namespace masque::world
