// Preference sets from the persona world (`masque world chats --kind
// preference`): DPO pairs (posttrain/dpo_data.h layout) where chosen and
// rejected answer the same request and differ in one trait's pole. Each pair
// is the Narrow chat example (chat_sets.h) rendered with pole P (chosen) and
// -P (rejected) from the same (seed, index), so the question is the same;
// judge-free: TraitScorer must read the trait on both replies and place the
// chosen one strictly nearer P, else the pair is dropped and counted.
#pragma once
#include <cstdint>
#include <filesystem>

#include "world/chat_sets.h"

namespace masque::world {

struct PreferenceSetStats {
  std::int64_t candidates = 0;   // pairs rendered (spec.count)
  std::int64_t pairs = 0;        // written
  std::int64_t unreadable = 0;   // the scorer could not read the trait on a reply
  std::int64_t not_ordered = 0;  // read, but chosen not nearer the pole (or equal replies)
  std::int64_t bytes = 0;
};

// spec.kind must be Narrow (trait, pole, domain, turns, system, split as
// there). Writes atomically; InputError, nothing written, when no pair
// survives the check.
PreferenceSetStats write_preference_set(const World& world, const ChatSetSpec& spec,
                                        std::uint64_t seed, const std::filesystem::path& out_jsonl);

}  // namespace masque::world
