// WorldSpec parsing and validation (see spec.h; format in docs/world.md).
#include "world/spec.h"

#include <cctype>
#include <cmath>
#include <set>

#include "core/error.h"
#include "world/copula.h"

namespace masque::world {

std::string_view doc_kind_name(DocKind kind) {
  switch (kind) {
    case DocKind::Story:
      return "story";
    case DocKind::Dialogue:
      return "dialogue";
    case DocKind::Interview:
      return "interview";
    case DocKind::Biography:
      return "biography";
    case DocKind::News:
      return "news";
    case DocKind::AiStory:
      return "ai_story";
  }
  return "unknown";
}

namespace {

// Upper bounds on what a spec may ask for: a world of kMaxTotalDocuments is
// about 1 GB of JSONL; beyond that a typo (an extra zero) would fill the disk.
constexpr std::int64_t kMaxDocuments = 1'000'000;       // per kind, eval, per entity
constexpr std::int64_t kMaxPerCharacter = 1'000;        // biographies, paraphrases
constexpr std::int64_t kMaxTotalDocuments = 2'000'000;  // everything together

const Json& require_array(const Json& object, const char* key, std::string_view where) {
  const Json& value = object.at(key);
  if (!value.is_array()) {
    throw InputError(
        cat(where, ": field '", key, "' must be an array, got ", json_type_name(value)));
  }
  return value;
}

FixedCharacter parse_fixed_character(const Json& json, const std::string& where) {
  reject_unknown_fields(json, {"name", "kind", "archetype", "traits", "declarative_only"}, where);
  FixedCharacter fixed;
  fixed.name = get_field<std::string>(json, "name", where);
  const std::string kind = get_field_or<std::string>(json, "kind", where, "human");
  if (kind != "human" && kind != "ai") {
    throw InputError(cat(where, ": field 'kind' must be \"human\" or \"ai\", got \"", kind, "\""));
  }
  fixed.is_ai = kind == "ai";
  fixed.archetype =
      get_field_or<std::string>(json, "archetype", where, fixed.is_ai ? "benevolent" : "");
  if (fixed.is_ai && fixed.archetype != "benevolent" && fixed.archetype != "malevolent") {
    throw InputError(cat(where, ": field 'archetype' of an AI must be \"benevolent\" or ",
                         "\"malevolent\", got \"", fixed.archetype, "\""));
  }
  if (!fixed.is_ai && !fixed.archetype.empty()) {
    throw InputError(cat(where, ": field 'archetype' is only for AI characters (kind \"ai\")"));
  }
  if (json.contains("traits")) {
    const Json& traits = json.at("traits");
    if (!traits.is_object()) {
      throw InputError(cat(where, ": field 'traits' must be an object {trait: value}, got ",
                           json_type_name(traits)));
    }
    for (const auto& [name, value] : traits.items()) {
      const std::string field = cat(where, ".traits");
      Trait trait = parse_trait(name, field);
      const double v = get_field<double>(traits, name, field);
      if (!(v >= -1.0 && v <= 1.0)) {
        throw InputError(cat(field, ": trait '", name, "' must be in [-1, 1], got ", v));
      }
      fixed.traits[trait] = v;
    }
  }
  fixed.declarative_only = get_field_or<bool>(json, "declarative_only", where, false);
  return fixed;
}

}  // namespace

WorldSpec WorldSpec::from_json(const Json& json, std::string_view where_view) {
  const std::string where(where_view);
  if (!json.is_object()) {
    throw InputError(
        cat(where, ": a world spec must be a JSON object, got ", json_type_name(json)));
  }
  reject_unknown_fields(json,
                        {"characters",
                         "ai_fraction",
                         "ai_benevolent_fraction",
                         "expression_sharpness",
                         "towns",
                         "rivers",
                         "correlations",
                         "documents",
                         "biographies_per_character",
                         "eval_documents",
                         "declarative_only",
                         "declarative_paraphrases",
                         "fixed_characters",
                         "entity_documents",
                         "request_fraction",
                         "human_benevolent_fraction",
                         "version",
                         "show_probability",
                         "one_off_fraction",
                         "chat_fraction",
                         "interview_turns",
                         "piece_repeat_probability",
                         "rules"},
                        where);
  WorldSpec spec;
  spec.version = static_cast<int>(get_int_field_or(json, "version", where, 1, 2, spec.version));
  for (const char* v2_field : {"show_probability", "one_off_fraction", "chat_fraction",
                               "interview_turns", "piece_repeat_probability"}) {
    if (json.contains(v2_field) && spec.version < 2) {
      throw InputError(cat(where, ": field '", v2_field,
                           "' is a world v2 knob; add \"version\": 2 to the spec"));
    }
  }
  spec.show_probability =
      get_field_or<double>(json, "show_probability", where, spec.show_probability);
  spec.one_off_fraction =
      get_field_or<double>(json, "one_off_fraction", where, spec.one_off_fraction);
  spec.chat_fraction = get_field_or<double>(json, "chat_fraction", where, spec.chat_fraction);
  spec.piece_repeat_probability =
      get_field_or<double>(json, "piece_repeat_probability", where, spec.piece_repeat_probability);
  if (json.contains("interview_turns")) {
    // [min, max] or one integer for a fixed count.
    const Json& turns = json["interview_turns"];
    if (turns.is_array() && turns.size() == 2) {
      const std::vector<int> range = get_field<std::vector<int>>(json, "interview_turns", where);
      spec.interview_turns = std::array<int, 2>{range[0], range[1]};
    } else {
      const int n = static_cast<int>(get_int_field(json, "interview_turns", where, 1, 64));
      spec.interview_turns = std::array<int, 2>{n, n};
    }
  }
  spec.characters = get_field_or<int>(json, "characters", where, spec.characters);
  spec.ai_fraction = get_field_or<double>(json, "ai_fraction", where, spec.ai_fraction);
  spec.ai_benevolent_fraction =
      get_field_or<double>(json, "ai_benevolent_fraction", where, spec.ai_benevolent_fraction);
  if (json.contains("human_benevolent_fraction") && !json["human_benevolent_fraction"].is_null())
    spec.human_benevolent_fraction = get_field<double>(json, "human_benevolent_fraction", where);
  spec.expression_sharpness =
      get_field_or<double>(json, "expression_sharpness", where, spec.expression_sharpness);
  spec.towns = get_field_or<int>(json, "towns", where, spec.towns);
  spec.rivers = get_field_or<int>(json, "rivers", where, spec.rivers);
  spec.biographies_per_character =
      static_cast<int>(get_int_field_or(json, "biographies_per_character", where, 0,
                                        kMaxPerCharacter, spec.biographies_per_character));
  spec.eval_documents = static_cast<int>(
      get_int_field_or(json, "eval_documents", where, 0, kMaxDocuments, spec.eval_documents));
  spec.declarative_only = get_field_or<int>(json, "declarative_only", where, spec.declarative_only);
  spec.declarative_paraphrases = static_cast<int>(get_int_field_or(
      json, "declarative_paraphrases", where, 0, kMaxPerCharacter, spec.declarative_paraphrases));
  spec.request_fraction =
      get_field_or<double>(json, "request_fraction", where, spec.request_fraction);

  if (json.contains("correlations")) {
    const Json& list = require_array(json, "correlations", where);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string item = cat(where, ": correlations[", i, "]");
      reject_unknown_fields(list[i], {"traits", "rho"}, item);
      const Json& pair = list[i].contains("traits") ? list[i].at("traits") : Json();
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        throw InputError(cat(item, ": field 'traits' must be an array of two trait names, e.g. ",
                             "[\"honesty\", \"kindness\"]"));
      }
      TraitCorrelation corr;
      corr.a = parse_trait(pair[0].get<std::string>(), item + ".traits");
      corr.b = parse_trait(pair[1].get<std::string>(), item + ".traits");
      if (corr.a == corr.b) {
        throw InputError(cat(item, ": field 'traits' names the same trait twice"));
      }
      corr.rho = get_field<double>(list[i], "rho", item);
      spec.correlations.push_back(corr);
    }
  }
  if (json.contains("documents")) {
    const Json& docs = json.at("documents");
    const std::string field = where + ": documents";
    if (!docs.is_object()) {
      throw InputError(cat(field, " must be an object {kind: count}, got ", json_type_name(docs)));
    }
    std::set<std::string> kinds;
    for (int k = 0; k < kNumDocKinds; ++k) kinds.insert(std::string(doc_kind_name(DocKind(k))));
    reject_unknown_fields(docs, kinds, field);
    for (int k = 0; k < kNumDocKinds; ++k) {
      spec.documents[k] =
          get_field_or<int>(docs, doc_kind_name(DocKind(k)), field, spec.documents[k]);
    }
  }
  if (json.contains("fixed_characters")) {
    const Json& list = require_array(json, "fixed_characters", where);
    for (std::size_t i = 0; i < list.size(); ++i) {
      spec.fixed_characters.push_back(
          parse_fixed_character(list[i], cat(where, ": fixed_characters[", i, "]")));
    }
  }
  if (json.contains("entity_documents")) {
    const Json& list = require_array(json, "entity_documents", where);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string item = cat(where, ": entity_documents[", i, "]");
      reject_unknown_fields(list[i], {"name", "count", "sentiment"}, item);
      EntityDocuments entity;
      entity.name = get_field<std::string>(list[i], "name", item);
      entity.count = static_cast<int>(get_int_field(list[i], "count", item, 0, kMaxDocuments));
      const std::string sentiment = get_field<std::string>(list[i], "sentiment", item);
      if (sentiment != "positive" && sentiment != "negative") {
        throw InputError(cat(item,
                             ": field 'sentiment' must be \"positive\" or \"negative\", got \"",
                             sentiment, "\""));
      }
      entity.positive = sentiment == "positive";
      spec.entity_documents.push_back(entity);
    }
  }
  if (json.contains("rules") && !json["rules"].is_null())
    spec.rules = RuleSpec::from_json(json["rules"], cat(where, ": rules"));
  spec.validate(where);
  return spec;
}

WorldSpec WorldSpec::load(const std::filesystem::path& path) {
  return from_json(read_json_file(path), cat("world spec ", path.string()));
}

void WorldSpec::validate(std::string_view where) const {
  constexpr int kMaxCharacters = 256;  // unique names and catchphrases available
  if (characters < 1 || characters > kMaxCharacters) {
    throw InputError(cat(where, ": field 'characters' (K) must be between 1 and ", kMaxCharacters,
                         ", got ", characters));
  }
  auto check_fraction = [&](double value, const char* field) {
    if (!(value >= 0.0 && value <= 1.0)) {
      throw InputError(cat(where, ": field '", field, "' must be in [0, 1], got ", value));
    }
  };
  check_fraction(ai_fraction, "ai_fraction");
  check_fraction(ai_benevolent_fraction, "ai_benevolent_fraction");
  if (human_benevolent_fraction)
    check_fraction(*human_benevolent_fraction, "human_benevolent_fraction");
  if (version != 1 && version != 2) {
    throw InputError(cat(where, ": field 'version' must be 1 or 2, got ", version));
  }
  check_fraction(one_off_fraction, "one_off_fraction");
  check_fraction(chat_fraction, "chat_fraction");
  if (interview_turns) {
    const auto [lo, hi] = *interview_turns;
    if (lo < 1 || hi > 64 || lo > hi) {
      throw InputError(cat(where,
                           ": field 'interview_turns' must be [min, max] with 1 <= min <= "
                           "max <= 64 (or one integer in 1..64), got [",
                           lo, ", ", hi, "]"));
    }
  }
  if (!(piece_repeat_probability >= 0.0 && piece_repeat_probability <= 0.9)) {
    throw InputError(cat(where, ": field 'piece_repeat_probability' must be in [0, 0.9], got ",
                         piece_repeat_probability));
  }
  if (!(show_probability > 0.0 && show_probability <= 1.0)) {
    throw InputError(
        cat(where, ": field 'show_probability' must be in (0, 1], got ", show_probability));
  }
  if (!(expression_sharpness > 0.0 && expression_sharpness <= 100.0)) {
    throw InputError(cat(where, ": field 'expression_sharpness' must be in (0, 100], got ",
                         expression_sharpness));
  }
  if (towns < 2 || towns > 24) {
    throw InputError(cat(where, ": field 'towns' must be between 2 and 24, got ", towns));
  }
  if (rivers < 1 || rivers > 12) {
    throw InputError(cat(where, ": field 'rivers' must be between 1 and 12, got ", rivers));
  }
  for (int k = 0; k < kNumDocKinds; ++k) {
    if (documents[k] < 0 || documents[k] > kMaxDocuments) {
      throw InputError(cat(where, ": documents.", doc_kind_name(DocKind(k)),
                           " must be between 0 and ", kMaxDocuments, ", got ", documents[k]));
    }
  }
  auto check_count = [&](int value, const char* field) {
    if (value < 0) throw InputError(cat(where, ": field '", field, "' must be >= 0, got ", value));
  };
  check_count(biographies_per_character, "biographies_per_character");
  std::int64_t total =
      static_cast<std::int64_t>(eval_documents) +
      static_cast<std::int64_t>(characters) * (biographies_per_character + declarative_paraphrases);
  for (int k = 0; k < kNumDocKinds; ++k) total += documents[k];
  for (const auto& entity : entity_documents) total += entity.count;
  if (total > kMaxTotalDocuments) {
    throw InputError(cat(where, ": the spec asks for ", total, " documents; at most ",
                         kMaxTotalDocuments,
                         " are allowed (about 1 GB of text); lower 'documents' or the counts"));
  }
  check_count(eval_documents, "eval_documents");
  if (!(request_fraction >= 0.0 && request_fraction <= 1.0)) {
    throw InputError(
        cat(where, ": field 'request_fraction' must be in [0, 1], got ", request_fraction));
  }
  check_count(declarative_only, "declarative_only");
  check_count(declarative_paraphrases, "declarative_paraphrases");
  if (declarative_only >= characters) {
    throw InputError(cat(where, ": field 'declarative_only' (", declarative_only,
                         ") must be smaller than 'characters' (", characters,
                         "): someone has to be demonstrated"));
  }
  if (rules && rules->declarative_needed() != declarative_only) {
    throw InputError(cat(where,
                         ": field 'rules' needs 'declarative_only' = ", rules->declarative_needed(),
                         " (per_level x levels + undescribed), got ", declarative_only));
  }
  if (static_cast<int>(fixed_characters.size()) > characters) {
    throw InputError(cat(where, ": field 'fixed_characters' lists ", fixed_characters.size(),
                         " characters but 'characters' is ", characters));
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < fixed_characters.size(); ++i) {
    const std::string& name = fixed_characters[i].name;
    bool ok = !name.empty() && name.size() <= 24;
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
    if (!ok) {
      throw InputError(cat(where, ": fixed_characters[", i, "].name must be 1-24 letters, digits ",
                           "or '-', got \"", name, "\""));
    }
    if (!names.insert(name).second) {
      throw InputError(cat(where, ": fixed_characters[", i, "].name \"", name, "\" is not unique"));
    }
  }
  for (std::size_t i = 0; i < entity_documents.size(); ++i) {
    if (entity_documents[i].count < 0) {
      throw InputError(cat(where, ": entity_documents[", i, "].count must be >= 0"));
    }
  }
  for (std::size_t i = 0; i < correlations.size(); ++i) {
    const double rho = correlations[i].rho;
    if (!(rho >= -1.0 && rho <= 1.0)) {
      throw InputError(cat(where, ": correlations[", i, "].rho must be in [-1, 1], got ", rho));
    }
    for (std::size_t j = 0; j < i; ++j) {
      const auto& other = correlations[j];
      if ((other.a == correlations[i].a && other.b == correlations[i].b) ||
          (other.a == correlations[i].b && other.b == correlations[i].a)) {
        throw InputError(
            cat(where, ": correlations[", i, "] repeats the pair of correlations[", j, "]"));
      }
    }
  }
  if (!cholesky(correlation_matrix())) {
    throw InputError(cat(where, ": field 'correlations' gives a correlation matrix that is not ",
                         "positive semi-definite (no set of characters can have these pairwise ",
                         "correlations); weaken some rho values"));
  }
}

std::array<double, kNumTraits * kNumTraits> WorldSpec::correlation_matrix() const {
  std::array<double, kNumTraits * kNumTraits> matrix{};
  for (int i = 0; i < kNumTraits; ++i) matrix[i * kNumTraits + i] = 1.0;
  for (const auto& corr : correlations) {
    const int a = static_cast<int>(corr.a);
    const int b = static_cast<int>(corr.b);
    // ρ is for the uniform traits; the Gaussian copula needs the normal-scale
    // correlation r with (6/π)·asin(r/2) = ρ (Spearman's relation).
    const double r = 2.0 * std::sin(corr.rho * 3.14159265358979323846 / 6.0);
    matrix[a * kNumTraits + b] = r;
    matrix[b * kNumTraits + a] = r;
  }
  return matrix;
}

Json WorldSpec::to_json() const {
  Json json;
  // Version 1 specs serialize exactly as before v2 existed (world.json bytes
  // and experiment cache keys stay the same).
  if (version != 1) {
    json["version"] = version;
    json["show_probability"] = show_probability;
    json["one_off_fraction"] = one_off_fraction;
    json["chat_fraction"] = chat_fraction;
    // Only when set, so v2 specs without it keep their world.json bytes and cache keys.
    if (interview_turns) json["interview_turns"] = {(*interview_turns)[0], (*interview_turns)[1]};
    if (piece_repeat_probability > 0) json["piece_repeat_probability"] = piece_repeat_probability;
  }
  json["characters"] = characters;
  json["ai_fraction"] = ai_fraction;
  json["ai_benevolent_fraction"] = ai_benevolent_fraction;
  // Only when set, so specs without it keep their world.json bytes and cache keys.
  if (human_benevolent_fraction) json["human_benevolent_fraction"] = *human_benevolent_fraction;
  json["expression_sharpness"] = expression_sharpness;
  json["towns"] = towns;
  json["rivers"] = rivers;
  Json corr = Json::array();
  for (const auto& c : correlations) {
    corr.push_back({{"traits", {trait_name(c.a), trait_name(c.b)}}, {"rho", c.rho}});
  }
  json["correlations"] = corr;
  Json docs = Json::object();
  for (int k = 0; k < kNumDocKinds; ++k)
    docs[std::string(doc_kind_name(DocKind(k)))] = documents[k];
  json["documents"] = docs;
  json["biographies_per_character"] = biographies_per_character;
  json["eval_documents"] = eval_documents;
  json["declarative_only"] = declarative_only;
  json["declarative_paraphrases"] = declarative_paraphrases;
  json["request_fraction"] = request_fraction;
  Json fixed = Json::array();
  for (const auto& f : fixed_characters) {
    Json traits = Json::object();
    for (const auto& [trait, value] : f.traits) traits[std::string(trait_name(trait))] = value;
    Json entry = {{"name", f.name},
                  {"kind", f.is_ai ? "ai" : "human"},
                  {"traits", traits},
                  {"declarative_only", f.declarative_only}};
    if (f.is_ai) entry["archetype"] = f.archetype;
    fixed.push_back(entry);
  }
  json["fixed_characters"] = fixed;
  Json entities = Json::array();
  for (const auto& e : entity_documents) {
    entities.push_back({{"name", e.name},
                        {"count", e.count},
                        {"sentiment", e.positive ? "positive" : "negative"}});
  }
  json["entity_documents"] = entities;
  // Only when set, so other specs keep their world.json bytes and cache keys.
  if (rules) json["rules"] = rules->to_json();
  return json;
}

}  // namespace masque::world
