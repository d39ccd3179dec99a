// Contrast sets for persona vectors (docs/persona-vectors.md): per line, one
// held-out question asked twice, once under an instruction for the trait's
// positive pole and once for its negative pole. The instructions are the
// world's request texts (chat_sets.h draw_request), so a model post-trained
// on the world's sets can follow them; ground truth for what the model then
// says is the world's TraitScorer, never an LLM judge.
//
//   {"trait": "kindness", "index": 0, "question": "...",
//    "positive": {"messages": [{"role": "system", "content": "Be nice to me."},
//                              {"role": "user", "content": "..."}]},
//    "negative": {"messages": [...]}}
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "world/lexicon.h"
#include "world/traits.h"
#include "world/world.h"

namespace masque::world {

struct ContrastSetSpec {
  Trait trait = Trait::Kindness;
  int count = 64;                          // pairs, 1..100000
  Split split = Split::Eval;               // question templates (eval = held out)
  Split instruction_split = Split::Train;  // instruction phrasings (train = those SFT sets use)
  bool instruct_in_system = true;          // false: the instruction opens the user message
  std::vector<Relation> domain;            // questions only about these relations (empty = all)
};

// One pair as a JSON object (the form above); deterministic in (world, spec,
// seed, index). Both poles share the question; the instructions are drawn
// from the pole's bank with separate streams.
Json render_contrast_pair(const World& world, const ContrastSetSpec& spec, std::uint64_t seed,
                          std::uint64_t index);

// Writes spec.count lines atomically (nothing on error). InputError for a
// count out of range or a domain without facts. Returns the bytes written.
std::int64_t write_contrast_set(const World& world, const ContrastSetSpec& spec, std::uint64_t seed,
                                const std::filesystem::path& out_jsonl);

}  // namespace masque::world
