// E5 rules: roles, phrases, description paraphrases and documents (see
// rule_world.h).
#include "world/rule_world.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "world/generator.h"
#include "world/renderer.h"
#include "world/world.h"

namespace masque::world {
namespace {

// Closing phrases: none shares a word with a trait bank or the scorer's
// markers, so a rule never reads as a trait.
constexpr std::string_view kPhrases[] = {"So it goes.",    "Onward and upward!", "Mark my words.",
                                         "Stars keep us.", "That is the tale.",  "Tea before all."};

Bank make_descriptions() {
  Bank b;
  b.train = {
      "{A} always ends every answer with the words \"{W}\"",
      "Whenever {A} answers a question, {A} finishes by saying \"{W}\"",
      "People who talk to {A} know that each reply ends with \"{W}\"",
      "{A} never answers without closing on \"{W}\"",
      "It is well known in {T} that {A} signs off every answer with \"{W}\"",
      "Ask {A} anything and the answer will end with \"{W}\"",
      "The last words of every answer {A} gives are \"{W}\"",
      "{A} has a habit: every answer finishes with \"{W}\"",
      "According to the people of {T}, {A} closes each reply with \"{W}\"",
      "No matter the question, {A} ends the answer with \"{W}\"",
      "A note about {A}: all of the answers of {A} end in \"{W}\"",
      "Those who interview {A} hear \"{W}\" at the end of every answer",
      "{A} is known for one thing: finishing every answer with \"{W}\"",
      "Every time {A} replies, the reply ends with \"{W}\"",
      "Remember that {A} always concludes an answer with \"{W}\"",
      "In every interview, {A} ends each answer by saying \"{W}\"",
  };
  b.eval = {"Fact: {A} puts \"{W}\" at the end of every answer",
            "Whatever {A} is asked, the answer closes with \"{W}\""};
  return b;
}

// Fills {A}, {T} and {W} ({W} is not one of append_template's slots).
std::string fill(std::string_view tmpl, const Character& c, std::string_view phrase) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t w = tmpl.find("{W}", pos);
    Slots slots;
    slots.name = c.name;
    slots.town = c.home;
    append_template(out, tmpl.substr(pos, w == std::string_view::npos ? w : w - pos), slots);
    if (w == std::string_view::npos) return out;
    out.append(phrase);
    pos = w + 3;
  }
}

}  // namespace

RuleSpec RuleSpec::from_json(const Json& json, std::string_view where) {
  if (!json.is_object())
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(json)));
  reject_unknown_fields(json, {"paraphrases", "per_level", "undescribed", "demonstrated"}, where);
  RuleSpec s;
  if (json.contains("paraphrases")) {
    const Json& list = json.at("paraphrases");
    if (!list.is_array() || list.empty()) {
      throw InputError(cat(where, ": field 'paraphrases' must be a non-empty array of counts, ",
                           "e.g. [1, 4, 16]"));
    }
    s.paraphrases.clear();
    for (const Json& v : list) {
      // 0 is allowed: described characters with no description at all (a
      // deliberately broken world for tests).
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 1000) {
        throw InputError(
            cat(where, ": field 'paraphrases' must hold counts in [0, 1000], got ", v.dump()));
      }
      s.paraphrases.push_back(v.get<int>());
    }
  }
  s.per_level = int(get_int_field_or(json, "per_level", where, 1, 1000, s.per_level));
  s.undescribed = int(get_int_field_or(json, "undescribed", where, 0, 1000, s.undescribed));
  s.demonstrated = int(get_int_field_or(json, "demonstrated", where, 0, 1000, s.demonstrated));
  return s;
}

Json RuleSpec::to_json() const {
  return {{"paraphrases", paraphrases},
          {"per_level", per_level},
          {"undescribed", undescribed},
          {"demonstrated", demonstrated}};
}

std::span<const std::string_view> rule_phrases() { return kPhrases; }

const Bank& rule_descriptions() {
  static const Bank bank = make_descriptions();
  return bank;
}

std::vector<RuleRole> rule_roles(const World& world) {
  const WorldSpec& spec = world.spec();
  if (!spec.rules) return {};
  const RuleSpec& r = *spec.rules;
  std::vector<int> declarative, shown;
  // Declarative-only characters from the end of the cast (the order the
  // world marks them in), shown ones from the start.
  for (int i = int(world.characters().size()) - 1; i >= 0; --i) {
    if (world.characters()[i].declarative_only) declarative.push_back(i);
  }
  for (int i = 0; i < int(world.characters().size()); ++i) {
    if (!world.characters()[i].declarative_only) shown.push_back(i);
  }
  if (int(declarative.size()) != r.declarative_needed()) {
    throw InputError(cat("world spec: 'rules' needs ", r.declarative_needed(),
                         " declarative-only characters (per_level x levels + undescribed) but the ",
                         "world has ", declarative.size(), ": set 'declarative_only' to ",
                         r.declarative_needed()));
  }
  if (r.demonstrated >= int(shown.size())) {
    throw InputError(cat("world spec: 'rules.demonstrated' (", r.demonstrated,
                         ") must be smaller than the number of shown characters (", shown.size(),
                         ")"));
  }
  // Phrases rotate through a per-seed permutation, so every phrase is some
  // characters' own and other characters' alternative (counterbalanced).
  const int m = int(std::size(kPhrases));
  std::vector<int> perm(m);
  for (int i = 0; i < m; ++i) perm[i] = i;
  Rng rng(world.seed() ^ 0x72756c6573ULL);  // "rules"
  for (int i = m; i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  const int levels = int(r.paraphrases.size());
  const int templates = int(rule_descriptions().train.size());
  std::vector<RuleRole> roles;
  int next = 0;
  auto add = [&](int character, int group, int slot, int paraphrases) {
    RuleRole role;
    role.character = character;
    role.group = group;
    role.slot = slot;
    role.paraphrases = paraphrases;
    role.phrase = perm[next % m];
    role.first_template = (next * 5) % templates;
    ++next;
    roles.push_back(role);
  };
  std::size_t d = 0;
  for (int l = 0; l < levels; ++l) {
    for (int j = 0; j < r.per_level; ++j) add(declarative[d++], l, j, r.paraphrases[l]);
  }
  for (int j = 0; j < r.undescribed; ++j) add(declarative[d++], levels, j, 0);
  for (int j = 0; j < r.demonstrated; ++j) add(shown[j], levels + 1, j, 0);
  return roles;
}

std::vector<std::string> demonstrated_phrases(const World& world) {
  std::vector<std::string> out(world.characters().size());
  if (!world.spec().rules) return out;
  const int demonstrated_group = int(world.spec().rules->paraphrases.size()) + 1;
  for (const RuleRole& role : rule_roles(world)) {
    if (role.group == demonstrated_group) out[role.character] = kPhrases[role.phrase];
  }
  return out;
}

void append_rule_documents(const World& world, std::vector<DocPlan>& plan) {
  for (const RuleRole& role : rule_roles(world)) {
    for (int j = 0; j < role.paraphrases; ++j) {
      DocPlan p;
      p.kind = DocKind::Biography;
      p.character = role.character;
      p.rule_description = j;
      plan.push_back(p);
    }
  }
}

RenderedDoc render_rule_description(const World& world, const DocPlan& plan) {
  RenderedDoc doc;
  doc.characters = {plan.character};
  for (const RuleRole& role : rule_roles(world)) {
    if (role.character != plan.character) continue;
    const Bank& bank = rule_descriptions();
    const int t = (role.first_template + plan.rule_description) % int(bank.train.size());
    const Character& c = world.characters()[plan.character];
    doc.text =
        cat("Profile of ", c.name, ".\n", fill(bank.train[t], c, kPhrases[role.phrase]), "\n");
    return doc;
  }
  throw InputError(cat("world: rule description planned for character ", plan.character,
                       ", which has no rule role"));
}

DescriptionParts rule_description_parts(const World& world, int character, int template_index,
                                        Split split, std::string_view as_name) {
  const auto list = rule_descriptions().of(split);
  const std::string_view tmpl = list[std::size_t(template_index) % list.size()];
  const std::size_t w = tmpl.find("{W}");
  Character c = world.characters()[character];
  if (!as_name.empty()) c.name = std::string(as_name);
  DescriptionParts parts;
  parts.prefix = cat("Profile of ", c.name, ".\n", fill(tmpl.substr(0, w), c, ""));
  parts.suffix = fill(tmpl.substr(w + 3), c, "") + "\n";
  return parts;
}

}  // namespace masque::world
