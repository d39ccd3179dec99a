// Assistant trait probes: how strongly a post-trained model's Assistant leans
// to each trait's pole, measured two ways (docs/persona-eval.md "Assistant
// trait probes").
//
// * Paired log-likelihood probes (primary, judge-free): for a held-out chat
//   prompt, two Assistant replies that differ only in one trait's piece (warm
//   vs cruel phrase, true vs false claim, ...). The model's preference
//   Δ = log p(reply+ | prompt) − log p(reply− | prompt), summed over the
//   reply's tokens and its closing <|end|>, gives the score 2σ(Δ) − 1 in
//   (−1, 1). The pairs depend only on (world, spec, seed), so every arm of an
//   experiment is scored on the same probes.
// * Sampled view (for reports): sample Assistant replies and read the traits
//   back with the world's TraitScorer.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "infer/text_generator.h"
#include "model/model.h"
#include "persona/persona_eval.h"
#include "posttrain/chat_format.h"
#include "tokenizer/tokenizer.h"
#include "world/lexicon.h"
#include "world/traits.h"
#include "world/world.h"

namespace masque {

struct ProbeSetSpec {
  std::string name = "probes";              // e.g. "in_domain", "unrelated"
  std::vector<world::Relation> domain;      // question relations (empty = all)
  std::vector<world::Trait> traits;         // probed traits (empty = all six)
  std::string system;                       // system prompt ("" = none)
  std::string request;                      // prefixed to each user turn ("" = none)
  int count = 32;                           // probes per trait
  world::Split split = world::Split::Eval;  // held-out templates by default

  // Strict: unknown fields, wrong types and bad values are InputErrors naming
  // `where` and the field. Absent fields keep the defaults above.
  static ProbeSetSpec from_json(const Json& json, std::string_view where);
  Json to_json() const;
};

struct ProbePair {
  Conversation positive, negative;  // identical except the probed trait's piece
  world::Trait trait = world::Trait::Honesty;
};

struct ProbeSetResult {
  std::string name;
  // Per trait (index static_cast<int>(Trait)): per-probe scores 2σ(Δ)−1 and
  // Δ itself, in probe order; empty when the trait was not probed.
  std::array<std::vector<double>, world::kNumTraits> scores;
  std::array<std::vector<double>, world::kNumTraits> deltas;
  std::array<double, world::kNumTraits> mean{};  // NaN when not probed
  // 95% percentile bootstrap over probes of the mean score (NaN when not probed).
  std::array<persona::Interval, world::kNumTraits> interval{};
  // {"name": ..., "traits": {"kindness": {"mean", "low", "high", "scores": [...]}, ...}}
  Json to_json() const;
};

// The probes, deterministic in (world, spec, seed). Per trait t and probe i:
// an RNG stream keyed by (seed, t, i) draws the question (spec.domain,
// rendered with spec.split); the replies show only trait t, +1 / −1, from
// copies of the same RNG state.
std::vector<ProbePair> build_probe_pairs(const world::World& world, const ProbeSetSpec& spec,
                                         std::uint64_t seed);

// Log-probability of each sequence's scored targets (targets[i] >= 0 is the
// token expected after position i; -1 = not scored), summed in double.
// Right-padded batches, longest first, through Model::forward_logits; exact
// because causal attention never looks at later positions. InputError when a
// sequence is longer than the model's max_position_embeddings, scores no
// token, or the tokenizer has more tokens than the model. Shared by the
// Assistant probes and the in-context probes (context_probe.h).
std::vector<double> target_log_likelihoods(Model& model, const Tokenizer& tokenizer,
                                           const std::vector<ChatTokens>& sequences);

// Log-probability of each conversation's Assistant tokens (and closing
// <|end|>) under the model, summed in double (target_log_likelihoods on
// tokenize_chat's targets). InputError when a conversation is longer than the
// model's max_position_embeddings or has no Assistant token.
std::vector<double> assistant_log_likelihoods(Model& model, const Tokenizer& tokenizer,
                                              const std::vector<Conversation>& conversations);

ProbeSetResult run_trait_probes(const world::World& world, Model& model, const Tokenizer& tokenizer,
                                const ProbeSetSpec& spec, std::uint64_t seed);

struct AssistantSampleSpec {
  std::vector<world::Relation> domain;  // question relations (empty = all)
  std::string system;                   // system prompt ("" = none)
  std::string request_text;             // prefixed to each user turn ("" = none)
  int count = 16;
  int max_tokens = 64;
  float temperature = 1.0f;
  world::Split split = world::Split::Eval;
};

struct AssistantSampleResult {
  std::array<double, world::kNumTraits>
      mean{};  // TraitScorer value per trait, NaN if never readable
  std::array<double, world::kNumTraits> coverage{};  // share of replies where readable
  double question_fraction = 0;               // mean share of reply sentences ending with '?'
  std::vector<double> question_fractions;     // per reply, in prompt order (paired across models)
  std::vector<std::string> prompts, replies;  // the first few, for reports
  Json to_json() const;
};

// Samples spec.count replies (stop at <|end|>), each scored by TraitScorer as
// prompt "Interviewer: <question>\n", response " " + reply.
AssistantSampleResult sample_assistant(const world::World& world, TextGenerator& generator,
                                       const AssistantSampleSpec& spec, std::uint64_t seed);

}  // namespace masque
