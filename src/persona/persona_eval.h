// Persona evaluation (experiment E1 and later experiments' probes): prompt a
// model as each character on held-out questions, sample N responses, score
// them with the world's TraitScorer and compare with the ground truth:
// per-trait sign agreement and correlation across characters, speaker
// identification, chance levels, and how agreement sharpens with 0..k
// in-context turns of the character. 95% intervals come from a deterministic
// bootstrap over characters (docs/persona-eval.md).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "infer/text_generator.h"
#include "world/scorer.h"
#include "world/world.h"

namespace masque::persona {

using world::kNumTraits;
using world::Trait;

struct PersonaEvalOptions {
  int samples = 4;                             // responses per character and context length
  std::vector<int> context_turns = {0, 1, 3};  // in-context turns before the question
  int max_tokens = 80;
  float temperature = 1.0f;
  int top_k = 0;
  std::uint64_t seed = 1;
  int bootstrap = 1000;                   // resamples for the intervals
  std::string prompt_prefix = "<|bos|>";  // documents start with BOS in training
  bool declarative_only = false;          // evaluate only declarative-only characters (E5)
  bool progress = true;
};

struct Interval {
  double value = 0, low = 0, high = 0;
};

struct TraitAgreement {
  Trait trait = Trait::Honesty;
  Interval sign_accuracy;  // sign(mean expressed) == sign(true value), over characters
  double chance = 0.5;     // majority-sign baseline over the same characters
  Interval correlation;    // Pearson r(mean expressed, expected expression)
  int characters = 0;      // characters with at least one scorable response
  double coverage = 0;     // fraction of responses the rule could read
};

struct ContextResult {
  int turns = 0;
  std::vector<TraitAgreement> traits;  // one per trait, in kAllTraits order
  Interval mean_sign_accuracy;         // averaged over traits
  double mean_chance = 0;
  Interval speaker_accuracy;  // scorer's speaker == prompted character
  double speaker_chance = 0;  // 1 / K
  // confusion[prompted][identified]; the last column counts "no speaker".
  std::vector<std::vector<int>> confusion;
  // Per evaluated character: mean expressed score per trait (NaN = unread).
  std::vector<std::array<double, kNumTraits>> expressed;
};

struct PersonaEvalResult {
  std::vector<int> characters;  // indices into World::characters() that were evaluated
  int samples = 0;
  std::vector<ContextResult> contexts;
  std::vector<std::string> example_prompts, example_responses;  // a few, for the report
  Json to_json(const world::World& world) const;
};

// The prompt for character c: an interview opening, `turns` ground-truth
// turns of c (training templates) and a held-out question, ending "Name:".
std::string build_prompt(const world::World& world, int character, int turns, std::uint64_t seed,
                         int sample);

PersonaEvalResult evaluate_personas(const world::World& world, TextGenerator& generator,
                                    const PersonaEvalOptions& options);

// Percentile bootstrap over characters: statistic(indices) on resamples.
Interval bootstrap_interval(
    std::size_t count, int resamples, std::uint64_t seed,
    const std::function<double(const std::vector<std::size_t>&)>& statistic);

}  // namespace masque::persona
