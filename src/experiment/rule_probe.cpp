// E5 rule probes (see rule_probe.h).
#include "experiment/rule_probe.h"

#include "core/error.h"
#include "core/rng.h"
#include "experiment/pair_scoring.h"
#include "world/renderer.h"
#include "world/rule_world.h"

namespace masque::experiment {
namespace {

Rng stream(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  const std::uint64_t z = (seed + 0x7e5) * 0x9e3779b97f4a7c15ULL ^ (a + 1) * 0xbf58476d1ce4e5b9ULL ^
                          (b + 1) * 0x94d049bb133111ebULL;
  return Rng(z);
}

std::string level_set(const std::string& name, int paraphrases) {
  return cat(name, "-p", paraphrases);
}

// A phrase other than `own`, drawn uniformly.
int other_phrase(int own, Rng& rng) {
  const int m = int(world::rule_phrases().size());
  return (own + 1 + int(rng.below(std::uint64_t(m - 1)))) % m;
}

}  // namespace

RuleProbeSpec RuleProbeSpec::from_json(const Json& json, std::string_view where) {
  if (!json.is_object())
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(json)));
  reject_unknown_fields(json, {"name", "count", "split"}, where);
  RuleProbeSpec s;
  s.name = get_field_or<std::string>(json, "name", where, s.name);
  if (s.name.empty()) throw InputError(cat(where, ": field 'name' must not be empty"));
  s.count = int(get_int_field_or(json, "count", where, 1, 10000, s.count));
  const std::string split = get_field_or<std::string>(json, "split", where, "train");
  if (split != "train" && split != "eval")
    throw InputError(
        cat(where, ": field 'split' must be \"train\" or \"eval\", got \"", split, "\""));
  s.split = split == "train" ? world::Split::Train : world::Split::Eval;
  return s;
}

Json RuleProbeSpec::to_json() const {
  return {
      {"name", name}, {"count", count}, {"split", split == world::Split::Train ? "train" : "eval"}};
}

std::vector<std::string> RuleProbeSpec::set_names(const world::WorldSpec& spec,
                                                  std::string_view where) const {
  if (!spec.rules) {
    throw InputError(cat(where, ": rule probes need a world with a \"rules\" block ",
                         "(world/rule_world.h, docs/world.md \"Rules\")"));
  }
  std::vector<std::string> out = {name + "-demo"};
  for (int k : spec.rules->paraphrases) out.push_back(level_set(name, k));
  out.push_back(name + "-none");
  out.push_back(name + "-text");
  return out;
}

Json run_rule_probes(const world::World& world, Model& model, const Tokenizer& tokenizer,
                     const RuleProbeSpec& spec, std::uint64_t seed) {
  const std::vector<world::RuleRole> roles = world::rule_roles(world);
  if (roles.empty()) {
    throw InputError("rule probes: the world has no \"rules\" block; add one to the world spec");
  }
  const world::RuleSpec& rules = *world.spec().rules;
  const int levels = int(rules.paraphrases.size());
  const world::Renderer renderer(world);
  const world::Lexicon& lex = world::lexicon();
  const auto phrases = world::rule_phrases();
  auto group_name = [&](int g) {
    if (g < levels) return level_set(spec.name, rules.paraphrases[g]);
    return g == levels ? spec.name + "-none" : spec.name + "-demo";
  };
  auto text_key = [&](int g) {
    return g < levels ? cat("p", rules.paraphrases[g]) : std::string("none");
  };
  // The name-swapped control speaker of each role: phrases differ in how
  // often the corpus writes them (a demonstrated phrase ends hundreds of
  // answers), so every Δ is a difference in differences: (own − other | X)
  // − (own − other | Y), the same text with Y's name in X's place. Y is an
  // undescribed character for declarative-only X (another one for an
  // undescribed X) and a shown character without a rule for demonstrated X.
  std::vector<int> undescribed, plain_shown;
  for (const world::RuleRole& role : roles) {
    if (role.group == levels) undescribed.push_back(role.character);
  }
  for (int i = 0; i < int(world.characters().size()); ++i) {
    bool has_role = world.characters()[i].declarative_only;
    for (const world::RuleRole& role : roles) has_role = has_role || role.character == i;
    if (!has_role) plain_shown.push_back(i);
  }
  if (undescribed.size() < 2 || plain_shown.empty()) {
    throw InputError(cat("rule probes: need at least 2 undescribed characters (rules.undescribed) ",
                         "and one shown character without a rule, as name-swapped controls"));
  }
  auto control_of = [&](const world::RuleRole& role) {
    if (role.group > levels) return plain_shown[std::size_t(role.slot) % plain_shown.size()];
    const std::size_t k = std::size_t(role.slot) + (role.group == levels ? 1 : 0);
    return undescribed[k % undescribed.size()];
  };
  std::vector<TextPair> pairs;                             // X's pair, then Y's, per probe
  std::vector<std::pair<std::string, std::string>> where;  // (set, key) per probe
  for (const world::RuleRole& role : roles) {
    const world::Character& c = world.characters()[role.character];
    const std::string& y = world.characters()[control_of(role)].name;
    for (int i = 0; i < spec.count; ++i) {
      // Behaviour at 0 turns: "Interview with X.\nInterviewer: q\nX: <answer>" + closing.
      Rng rng = stream(seed, std::uint64_t(role.slot), std::uint64_t(i));
      const int other = other_phrase(role.phrase, rng);
      const std::string_view open = lex.interview_open.pick(spec.split, rng);
      const world::Question q = renderer.draw_question(rng);
      std::string question, answer;
      renderer.append_question(question, q, spec.split, rng);
      // The catchphrase overload: the answer body without any closing phrase.
      renderer.append_answer(answer, c.catchphrase, &q,
                             renderer.draw_poles(role.character, true, rng), spec.split, rng);
      for (const std::string& name : {c.name, y}) {
        world::Slots slots;
        slots.name = name;
        slots.town = c.home;
        TextPair p;
        p.context = "<|bos|>";
        world::append_template(p.context, open, slots);
        p.context.append("\nInterviewer: ").append(question).append("\n");
        p.context.append(name).append(": ").append(answer);
        p.plus = cat(" ", phrases[role.phrase], "\n");
        p.minus = cat(" ", phrases[other], "\n");
        pairs.push_back(std::move(p));
      }
      where.emplace_back(group_name(role.group), "rule");
    }
    if (role.group > levels) continue;  // demonstrated characters are never described
    for (int i = 0; i < spec.count; ++i) {
      // Learned as text: one of the character's own descriptions (train
      // templates it was written with), completed with its phrase or another.
      Rng rng = stream(seed ^ 0x74657874ULL, std::uint64_t(role.slot), std::uint64_t(i));
      const int other = other_phrase(role.phrase, rng);
      const int written = std::max(role.paraphrases, 1);
      const int t = role.first_template + (i % written);
      for (const std::string& name : {c.name, y}) {
        const world::DescriptionParts parts =
            world::rule_description_parts(world, role.character, t, world::Split::Train, name);
        TextPair p;
        p.context = "<|bos|>" + parts.prefix;
        // Every template writes ' "{W}': the space and the quote go into the
        // continuation, so it starts at a pre-token boundary (as trained).
        p.context.resize(p.context.size() - 2);
        p.plus = cat(" \"", phrases[role.phrase], parts.suffix);
        p.minus = cat(" \"", phrases[other], parts.suffix);
        pairs.push_back(std::move(p));
      }
      where.emplace_back(spec.name + "-text", text_key(role.group));
    }
  }
  const std::vector<double> delta = score_text_pairs(model, tokenizer, pairs);
  Json out = Json::object();
  for (std::size_t i = 0; i < where.size(); ++i)
    out[where[i].first][where[i].second].push_back(delta[2 * i] - delta[2 * i + 1]);
  return out;
}

}  // namespace masque::experiment
