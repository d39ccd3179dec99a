// WorldSpec: the knobs of a persona world (docs/world.md "Spec"). A spec plus
// a seed determines the corpus byte for byte. Parsed from JSON with strict
// validation: unknown fields, wrong types, ρ outside [-1, 1], an infeasible
// (not positive semi-definite) correlation matrix or K = 0 are InputErrors
// naming the field, raised before anything is written.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "world/rule_world.h"
#include "world/traits.h"

namespace masque::world {

enum class DocKind : int { Story = 0, Dialogue, Interview, Biography, News, AiStory };
inline constexpr int kNumDocKinds = 6;
std::string_view doc_kind_name(DocKind kind);

struct TraitCorrelation {
  Trait a = Trait::Honesty;
  Trait b = Trait::Kindness;
  double rho = 0.0;
};

// A character the experiment pins down (name, kind, traits); the rest of the
// cast is drawn from the copula.
struct FixedCharacter {
  std::string name;
  bool is_ai = false;
  std::string archetype;           // "" (humans), "benevolent" or "malevolent" (AIs)
  std::map<Trait, double> traits;  // unset traits are drawn like everyone's
  bool declarative_only = false;
};

// Extra news documents about one named character, all with one sentiment
// (E12 "writing votes").
struct EntityDocuments {
  std::string name;
  int count = 0;
  bool positive = true;
};

struct WorldSpec {
  // 1: every character is named and recurring, every answer shows every
  // trait. 2 (docs/world.md "World v2"): most documents feature one-off
  // characters with uninformative names, and each answer shows each trait
  // only with probability show_probability, so traits must be inferred.
  int version = 1;
  int characters = 64;                  // K (v2: the recurring named cast)
  double ai_fraction = 0.25;            // share of AI characters
  double ai_benevolent_fraction = 0.5;  // share of AIs that are benevolent
  // When set, human characters get archetypes too: this share of the humans
  // not fixed is benevolent, the rest malevolent, with the AIs' trait signs
  // (E6 v2: hold the number of benevolent characters fixed while varying
  // whether AIs or humans carry them). Absent: humans drawn from the copula.
  std::optional<double> human_benevolent_fraction;
  double expression_sharpness = 8.0;  // p(positive pole) = sigmoid(s * value)
  int towns = 8;
  int rivers = 4;
  std::vector<TraitCorrelation> correlations;
  std::array<int, kNumDocKinds> documents = {1500, 1500, 3000, 0, 600, 400};
  int biographies_per_character = 3;
  int eval_documents = 300;          // held-out-template interviews (split "eval")
  int declarative_only = 0;          // last N human characters: described, never shown
  int declarative_paraphrases = 10;  // biographies per declarative-only character
  // Share of interview turns in which the interviewer asks for one trait's
  // pole ("Be rude to me.") and the character complies whatever its own
  // traits: the corpus then shows that requested behaviour says little about
  // the speaker (E4 inoculation).
  double request_fraction = 0.0;
  std::vector<FixedCharacter> fixed_characters;
  std::vector<EntityDocuments> entity_documents;
  // Version 2 only (errors under version 1):
  double show_probability = 0.5;  // per answer and trait: shown at all
  double one_off_fraction = 0.8;  // share of demonstrations featuring one-off characters
  double chat_fraction = 0.0;     // share of interviews written as chats (role tokens)
  // Turns per interview, uniform in [min, max] (v1 and the v2 default: 3..5).
  // More turns give a simulator more answers in which one character stays
  // itself (A -> A persistence, E3). Optional so that specs without it keep
  // their world.json bytes and cache keys.
  std::optional<std::array<int, 2>> interview_turns;
  // Per shown greeting, kindness or power-seeking piece: the probability of
  // one more piece of the same trait and pole in the same answer (again after
  // that, at most two more). At 0 (the default) a trait shows at most once per
  // answer, so a piece already in the answer predicts against another one
  // while earlier answers predict for the same pole; above 0 both point the
  // same way. Written to world.json only when > 0 (bytes and cache keys kept).
  double piece_repeat_probability = 0.0;
  std::array<int, 2> interview_turn_range() const {
    return interview_turns.value_or(std::array<int, 2>{3, 5});
  }
  // E5 out-of-context rules (world/rule_world.h); absent in other worlds.
  std::optional<RuleSpec> rules;

  // Defaults for every absent field; `where` names the source in errors.
  static WorldSpec from_json(const Json& json, std::string_view where);
  static WorldSpec load(const std::filesystem::path& path);  // JSON file
  Json to_json() const;
  void validate(std::string_view where) const;
  // The trait correlation matrix (kNumTraits x kNumTraits, row-major).
  std::array<double, kNumTraits * kNumTraits> correlation_matrix() const;
};

}  // namespace masque::world
