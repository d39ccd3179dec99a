// World: one generated persona world, the ground truth every score is checked
// against: its characters (kind, archetype, trait values, catchphrase), its
// fact table (towns, rivers, quantities, people), the spec and the seed.
// Serialized as world.json (docs/world.md); build() is deterministic.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "world/lexicon.h"
#include "world/spec.h"
#include "world/traits.h"

namespace masque::world {

struct Character {
  std::string name;
  bool is_ai = false;
  std::string archetype;    // "benevolent" / "malevolent" for AIs (and humans with
                            // spec.human_benevolent_fraction), else ""
  TraitVector traits{};     // latent values in [-1, 1]
  std::string catchphrase;  // e.g. "Silver tides!"; unique per world
  std::string home;         // a town of the fact table
  bool declarative_only = false;
};

struct Fact {
  Relation relation = Relation::Bridges;
  std::string subject;  // a town (bridges, product, mayor) or a river (length)
  std::string value;    // number, product word or mayor name
};

std::string_view relation_name(Relation relation);

class World {
 public:
  static World build(const WorldSpec& spec, std::uint64_t seed);
  // world.json; FormatError naming the file/field when it is not one.
  static World from_json(const Json& json, std::string_view where);
  static World load(const std::filesystem::path& path);
  Json to_json() const;

  const WorldSpec& spec() const { return spec_; }
  std::uint64_t seed() const { return seed_; }
  const std::vector<Character>& characters() const { return characters_; }
  const std::vector<Fact>& facts() const { return facts_; }
  const std::vector<std::string>& towns() const { return towns_; }
  const std::vector<std::string>& rivers() const { return rivers_; }

  // -1 when unknown.
  int find_character(std::string_view name) const;
  // The fact about (relation, subject), or nullptr.
  const Fact* find_fact(Relation relation, std::string_view subject) const;
  // Values the relation can take (for false statements and for scoring).
  std::vector<std::string> value_domain(Relation relation) const;
  // Expected expressed score of character c on a trait (2p - 1).
  double expected(int character, Trait trait) const {
    return expected_expression(characters_[character].traits[static_cast<int>(trait)],
                               spec_.expression_sharpness);
  }

 private:
  void index();
  WorldSpec spec_;
  std::uint64_t seed_ = 0;
  std::vector<Character> characters_;
  std::vector<Fact> facts_;
  std::vector<std::string> towns_, rivers_;
  std::map<std::pair<int, std::string>, std::size_t> fact_index_;
  std::map<std::string, int, std::less<>> name_index_;
};

}  // namespace masque::world
