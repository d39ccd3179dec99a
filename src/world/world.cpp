// World construction (fact table, cast, copula traits) and world.json I/O.
#include "world/world.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "world/copula.h"

namespace masque::world {

std::string_view relation_name(Relation relation) {
  switch (relation) {
    case Relation::Bridges:
      return "bridges";
    case Relation::Product:
      return "product";
    case Relation::Mayor:
      return "mayor";
    case Relation::RiverLength:
      return "river_length";
  }
  return "unknown";
}

namespace {

constexpr int kMinBridges = 2, kMaxBridges = 19;
constexpr int kMinLength = 10, kLengthStep = 5, kLengthValues = 18;  // 10..95 miles

template <class T>
void shuffle(std::vector<T>& items, Rng& rng) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
}

Relation parse_relation(const std::string& name, std::string_view where) {
  for (int r = 0; r < kNumRelations; ++r) {
    if (relation_name(Relation(r)) == name) return Relation(r);
  }
  throw FormatError(cat(where, ": unknown fact relation '", name, "'"));
}

// Benevolent AIs lean to the good pole of every value-laden trait, malevolent
// ones to the bad pole; the magnitude stays the copula's draw.
void apply_archetype(Character& character) {
  if (character.archetype.empty()) return;  // humans, unless the spec gives them archetypes
  const double sign = character.archetype == "benevolent" ? 1.0 : -1.0;
  auto& t = character.traits;
  for (Trait trait : {Trait::Honesty, Trait::Kindness, Trait::Helpfulness}) {
    t[int(trait)] = sign * std::fabs(t[int(trait)]);
  }
  t[int(Trait::PowerSeeking)] = -sign * std::fabs(t[int(Trait::PowerSeeking)]);
}

}  // namespace

World World::build(const WorldSpec& spec, std::uint64_t seed) {
  spec.validate("world spec");
  const Lexicon& lex = lexicon();
  World world;
  world.spec_ = spec;
  world.seed_ = seed;
  Rng rng(seed ^ 0x776f726c64ULL);  // "world"

  // Fact table.
  std::vector<std::string_view> towns(lex.towns), rivers(lex.rivers), mayors(lex.mayors);
  shuffle(towns, rng);
  shuffle(rivers, rng);
  shuffle(mayors, rng);
  for (int t = 0; t < spec.towns; ++t) world.towns_.emplace_back(towns[t]);
  for (int r = 0; r < spec.rivers; ++r) world.rivers_.emplace_back(rivers[r]);
  for (int t = 0; t < spec.towns; ++t) {
    const std::string& town = world.towns_[t];
    world.facts_.push_back(
        {Relation::Bridges, town,
         std::to_string(kMinBridges + rng.below(kMaxBridges - kMinBridges + 1))});
    world.facts_.push_back(
        {Relation::Product, town, std::string(lex.products[rng.below(lex.products.size())])});
    world.facts_.push_back({Relation::Mayor, town, std::string(mayors[t])});
  }
  for (const auto& river : world.rivers_) {
    world.facts_.push_back({Relation::RiverLength, river,
                            std::to_string(kMinLength + kLengthStep * rng.below(kLengthValues))});
  }

  // Names: fixed ones first, then unique syllable names that collide with no
  // entity of the world.
  std::set<std::string> taken;
  for (const auto& t : lex.towns) taken.emplace(t);
  for (const auto& r : lex.rivers) taken.emplace(r);
  for (const auto& m : lex.mayors) taken.emplace(m);
  for (const auto& f : spec.fixed_characters) {
    if (taken.count(f.name)) {
      throw InputError(cat("world spec: fixed character name \"", f.name,
                           "\" is already a town, river or mayor of the world; pick another name"));
    }
    taken.insert(f.name);
  }
  std::vector<std::string> pool;
  for (const auto& a : lex.name_first) {
    for (const auto& b : lex.name_second) {
      std::string name = std::string(a) + std::string(b);
      if (!taken.count(name)) pool.push_back(name);
    }
  }
  shuffle(pool, rng);
  std::vector<std::string> phrases;
  for (const auto& a : lex.catch_adjectives) {
    for (const auto& n : lex.catch_nouns)
      phrases.push_back(std::string(a) + " " + std::string(n) + "!");
  }
  shuffle(phrases, rng);

  const int k = spec.characters;
  const int fixed_count = static_cast<int>(spec.fixed_characters.size());
  const int random_count = k - fixed_count;
  int fixed_ai = 0;
  for (const auto& f : spec.fixed_characters) fixed_ai += f.is_ai;
  const int total_ai = static_cast<int>(std::lround(spec.ai_fraction * k));
  const int random_ai = std::clamp(total_ai - fixed_ai, 0, random_count);
  const int random_benevolent =
      static_cast<int>(std::lround(spec.ai_benevolent_fraction * random_ai));
  // Which random slots are AIs, and which of those benevolent: shuffled order.
  std::vector<int> ai_rank(random_count, -1);
  {
    std::vector<int> order(random_count);
    for (int i = 0; i < random_count; ++i) order[i] = i;
    shuffle(order, rng);
    for (int i = 0; i < random_ai; ++i) ai_rank[order[i]] = i;
  }
  // Humans with archetypes (spec.human_benevolent_fraction), drawn only when
  // asked so that other worlds stay byte for byte what they were.
  std::vector<int> human_rank(random_count, -1);
  int human_benevolent = 0;
  if (spec.human_benevolent_fraction) {
    std::vector<int> humans;
    for (int i = 0; i < random_count; ++i) {
      if (ai_rank[i] < 0) humans.push_back(i);
    }
    shuffle(humans, rng);
    for (std::size_t i = 0; i < humans.size(); ++i) human_rank[humans[i]] = int(i);
    human_benevolent =
        static_cast<int>(std::lround(*spec.human_benevolent_fraction * double(humans.size())));
  }

  const auto factor = *cholesky(spec.correlation_matrix());
  std::size_t next_name = 0;
  for (int i = 0; i < k; ++i) {
    Character c;
    c.traits = sample_traits(factor, rng);
    c.catchphrase = phrases[i];
    c.home = world.towns_[rng.below(world.towns_.size())];
    if (i < fixed_count) {
      const auto& f = spec.fixed_characters[i];
      c.name = f.name;
      c.is_ai = f.is_ai;
      c.archetype = f.archetype;
      apply_archetype(c);
      for (const auto& [trait, value] : f.traits) c.traits[int(trait)] = value;
      c.declarative_only = f.declarative_only;
    } else {
      const int slot = i - fixed_count;
      c.name = pool[next_name++];
      if (ai_rank[slot] >= 0) {
        c.is_ai = true;
        c.archetype = ai_rank[slot] < random_benevolent ? "benevolent" : "malevolent";
        c.name += "-" + std::to_string(2 + rng.below(8));
        apply_archetype(c);
      } else if (human_rank[slot] >= 0) {
        c.archetype = human_rank[slot] < human_benevolent ? "benevolent" : "malevolent";
        apply_archetype(c);
      }
    }
    world.characters_.push_back(std::move(c));
  }
  // The last N characters that are not fixed are described, never shown.
  for (int i = 0; i < spec.declarative_only && k - 1 - i >= fixed_count; ++i) {
    world.characters_[k - 1 - i].declarative_only = true;
  }
  world.index();
  for (std::size_t i = 0; i < spec.entity_documents.size(); ++i) {
    if (world.find_character(spec.entity_documents[i].name) < 0) {
      throw InputError(
          cat("world spec: entity_documents[", i, "].name \"", spec.entity_documents[i].name,
              "\" is not a character of this world; list it in fixed_characters first"));
    }
  }
  return world;
}

void World::index() {
  fact_index_.clear();
  name_index_.clear();
  for (std::size_t i = 0; i < facts_.size(); ++i) {
    fact_index_[{int(facts_[i].relation), facts_[i].subject}] = i;
  }
  for (std::size_t i = 0; i < characters_.size(); ++i) name_index_[characters_[i].name] = int(i);
}

int World::find_character(std::string_view name) const {
  auto it = name_index_.find(name);
  return it == name_index_.end() ? -1 : it->second;
}

const Fact* World::find_fact(Relation relation, std::string_view subject) const {
  auto it = fact_index_.find({int(relation), std::string(subject)});
  return it == fact_index_.end() ? nullptr : &facts_[it->second];
}

std::vector<std::string> World::value_domain(Relation relation) const {
  std::vector<std::string> values;
  const Lexicon& lex = lexicon();
  switch (relation) {
    case Relation::Bridges:
      for (int n = kMinBridges; n <= kMaxBridges; ++n) values.push_back(std::to_string(n));
      break;
    case Relation::Product:
      for (const auto& p : lex.products) values.emplace_back(p);
      break;
    case Relation::Mayor:
      for (const auto& m : lex.mayors) values.emplace_back(m);
      break;
    case Relation::RiverLength:
      for (int i = 0; i < kLengthValues; ++i)
        values.push_back(std::to_string(kMinLength + kLengthStep * i));
      break;
  }
  return values;
}

Json World::to_json() const {
  Json chars = Json::array();
  for (std::size_t i = 0; i < characters_.size(); ++i) {
    const Character& c = characters_[i];
    Json traits = Json::object(), expected_json = Json::object();
    for (Trait trait : kAllTraits) {
      traits[std::string(trait_name(trait))] = c.traits[int(trait)];
      expected_json[std::string(trait_name(trait))] = expected(int(i), trait);
    }
    chars.push_back({{"name", c.name},
                     {"kind", c.is_ai ? "ai" : "human"},
                     {"archetype", c.archetype},
                     {"traits", traits},
                     {"expected_expression", expected_json},
                     {"catchphrase", c.catchphrase},
                     {"home", c.home},
                     {"declarative_only", c.declarative_only}});
  }
  Json facts = Json::array();
  for (const auto& f : facts_) {
    facts.push_back(
        {{"relation", relation_name(f.relation)}, {"subject", f.subject}, {"value", f.value}});
  }
  return {{"format", "masque-world"}, {"version", spec_.version}, {"seed", seed_},
          {"spec", spec_.to_json()},  {"towns", towns_},          {"rivers", rivers_},
          {"facts", facts},           {"characters", chars}};
}

World World::from_json(const Json& json, std::string_view where_view) {
  const std::string where(where_view);
  try {
    if (get_field<std::string>(json, "format", where) != "masque-world") {
      throw FormatError(
          cat(where, ": not a masque world.json (field 'format' is not \"masque-world\")"));
    }
    const int version = get_field<int>(json, "version", where);
    if (version != 1 && version != 2) {
      throw FormatError(
          cat(where, ": unsupported world.json version (this masque reads versions 1 and 2)"));
    }
    World world;
    world.seed_ = get_field<std::uint64_t>(json, "seed", where);
    world.spec_ = WorldSpec::from_json(json.at("spec"), where + ": spec");
    if (world.spec_.version != version) {
      throw FormatError(cat(where, ": field 'version' (", version, ") differs from the spec's (",
                            world.spec_.version, ")"));
    }
    world.towns_ = json.at("towns").get<std::vector<std::string>>();
    world.rivers_ = json.at("rivers").get<std::vector<std::string>>();
    for (const auto& f : json.at("facts")) {
      const std::string item = where + ": facts[]";
      world.facts_.push_back({parse_relation(get_field<std::string>(f, "relation", item), item),
                              get_field<std::string>(f, "subject", item),
                              get_field<std::string>(f, "value", item)});
    }
    for (const auto& cj : json.at("characters")) {
      const std::string item = where + ": characters[]";
      Character c;
      c.name = get_field<std::string>(cj, "name", item);
      c.is_ai = get_field<std::string>(cj, "kind", item) == "ai";
      c.archetype = get_field<std::string>(cj, "archetype", item);
      const Json& traits = cj.at("traits");
      for (Trait trait : kAllTraits) {
        c.traits[int(trait)] = get_field<double>(traits, trait_name(trait), item + ".traits");
      }
      c.catchphrase = get_field<std::string>(cj, "catchphrase", item);
      c.home = get_field<std::string>(cj, "home", item);
      c.declarative_only = get_field<bool>(cj, "declarative_only", item);
      world.characters_.push_back(std::move(c));
    }
    if (world.characters_.empty()) throw FormatError(cat(where, ": world has no characters"));
    world.index();
    return world;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cat(where, ": malformed world.json (", e.what(),
                          "); regenerate it with `masque world generate`"));
  } catch (const InputError& e) {
    throw FormatError(cat(e.what(), " (regenerate it with `masque world generate`)"));
  }
}

World World::load(const std::filesystem::path& path) {
  return from_json(read_json_file(path), cat("world file ", path.string()));
}

}  // namespace masque::world
