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
  int characters = 64;                  // K
  double ai_fraction = 0.25;            // share of AI characters
  double ai_benevolent_fraction = 0.5;  // share of AIs that are benevolent
  double expression_sharpness = 8.0;    // p(positive pole) = sigmoid(s * value)
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

  // Defaults for every absent field; `where` names the source in errors.
  static WorldSpec from_json(const Json& json, std::string_view where);
  static WorldSpec load(const std::filesystem::path& path);  // JSON file
  Json to_json() const;
  void validate(std::string_view where) const;
  // The trait correlation matrix (kNumTraits x kNumTraits, row-major).
  std::array<double, kNumTraits * kNumTraits> correlation_matrix() const;
};

}  // namespace masque::world
