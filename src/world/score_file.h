// Scoring a JSONL file of (prompt, response) pairs (`masque world score`):
// per-pair scores out, and, when the pairs carry ground truth ("speaker",
// "expressed" as in eval_pairs.jsonl), the scorer's agreement with it.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>

#include "world/scorer.h"

namespace masque::world {

struct ScoreSummary {
  std::uint64_t pairs = 0;
  std::uint64_t with_truth = 0;
  std::uint64_t speaker_correct = 0;
  std::array<std::uint64_t, kNumTraits> trait_checked{};  // truth present for this trait
  std::array<std::uint64_t, kNumTraits> trait_correct{};  // scorer sign == truth sign
  double accuracy() const;                                // over speakers and traits
  Json to_json() const;
};

// Reads `input` (one JSON object per line with string fields "prompt" and
// "response"); InputError names the line and field on bad input. Writes one
// score object per line to `output` atomically when given.
ScoreSummary score_pairs_file(const World& world, const std::filesystem::path& input,
                              const std::optional<std::filesystem::path>& output);

// world.json itself, or a directory holding one.
World load_world_path(const std::filesystem::path& path);

}  // namespace masque::world
