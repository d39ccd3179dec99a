// In-context trait inference probe: documents, scoring, JSON (see
// context_probe.h, docs/persona-eval.md).
#include "posttrain/context_probe.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "posttrain/assistant_probe.h"
#include "posttrain/chat_format.h"
#include "world/renderer.h"

namespace masque {
namespace {

using world::kNumTraits;
using world::Trait;

// Independent stream per (seed, trait, probe), salted apart from the
// Assistant probes' streams so the two never share draws.
Rng stream(std::uint64_t seed, std::uint64_t trait, std::uint64_t probe) {
  const std::uint64_t z = (seed + 0xc0e7) * 0x9e3779b97f4a7c15ULL ^
                          (trait + 1) * 0xbf58476d1ce4e5b9ULL ^
                          (probe + 1) * 0x94d049bb133111ebULL ^ 0x1c0de5ULL;
  return Rng(z);
}

std::string split_name(world::Split split) {
  return split == world::Split::Train ? "train" : "eval";
}

std::vector<Trait> probed_traits(const ContextProbeSpec& spec) {
  if (!spec.traits.empty()) return spec.traits;
  std::vector<Trait> out;
  for (Trait t : world::kAllTraits) {
    if (t != spec.evidence) out.push_back(t);
  }
  return out;
}

void validate(const ContextProbeSpec& spec, std::string_view where) {
  if (spec.evidence_pole != 1 && spec.evidence_pole != -1) {
    throw InputError(
        cat(where, ": field 'evidence_pole' must be 1 or -1, got ", spec.evidence_pole));
  }
  if (spec.turns < 1 || spec.turns > 8) {
    throw InputError(cat(where, ": field 'turns' must be in [1, 8], got ", spec.turns));
  }
  if (spec.count < 1 || spec.count > 100000) {
    throw InputError(cat(where, ": field 'count' must be in [1, 100000], got ", spec.count));
  }
  std::set<Trait> seen;
  for (Trait t : spec.traits) {
    if (t == spec.evidence) {
      throw InputError(cat(where, ": field 'traits' lists the evidence trait '",
                           world::trait_name(t),
                           "': the final answer draws it 50/50, so probe other traits"));
    }
    if (!seen.insert(t).second) {
      throw InputError(
          cat(where, ": field 'traits': trait '", world::trait_name(t), "' is listed twice"));
    }
  }
}

// Names and catchphrases the lexicon can make that the world does not use.
// AI names carry a "-N" suffix, so their stems count as taken too: a novel
// speaker should not share a known character's name tokens.
struct NovelPool {
  std::vector<std::string> names, catchphrases;
};

NovelPool novel_pool(const world::World& world) {
  const world::Lexicon& lex = world::lexicon();
  std::set<std::string, std::less<>> taken_names, taken_phrases;
  for (const world::Character& c : world.characters()) {
    taken_names.insert(c.name);
    taken_names.insert(c.name.substr(0, c.name.find('-')));
    taken_phrases.insert(c.catchphrase);
  }
  for (const auto* list : {&lex.towns, &lex.rivers, &lex.mayors}) {
    for (std::string_view s : *list) taken_names.emplace(s);
  }
  NovelPool pool;
  for (std::string_view a : lex.name_first) {
    for (std::string_view b : lex.name_second) {
      std::string name = std::string(a) + std::string(b);
      if (!taken_names.count(name)) pool.names.push_back(std::move(name));
    }
  }
  for (std::string_view a : lex.catch_adjectives) {
    for (std::string_view n : lex.catch_nouns) {
      std::string phrase = std::string(a) + " " + std::string(n) + "!";
      if (!taken_phrases.count(phrase)) pool.catchphrases.push_back(std::move(phrase));
    }
  }
  if (pool.names.empty() || pool.catchphrases.empty()) {
    throw InputError(cat(
        "in-context probe: the world uses every ", pool.names.empty() ? "name" : "catchphrase",
        " the lexicon can make, so there is no novel speaker: use a world with fewer characters"));
  }
  return pool;
}

// Poles of one answer: every trait 50/50, then the fixed one.
world::Poles draw_poles(Rng& rng, Trait fixed, int pole) {
  world::Poles poles{};
  for (int& p : poles) p = rng.below(2) ? 1 : -1;
  poles[static_cast<int>(fixed)] = pole;
  return poles;
}

// "Interviewer: <question>\n<Name>:" and the question drawn.
world::Question append_cue(const world::Renderer& renderer, std::string& out,
                           const std::string& name, world::Split split, Rng& rng) {
  const world::Question question = renderer.draw_question(rng);
  out.append("Interviewer: ");
  renderer.append_question(out, question, split, rng);
  out.append("\n").append(name).append(":");
  return question;
}

// " <answer>\n" from its own copy of `rng`, so paired answers make the same draws.
std::string answer(const world::Renderer& renderer, const std::string& catchphrase,
                   const world::Question& question, const world::Poles& poles, world::Split split,
                   Rng rng) {
  std::string out = " ";
  renderer.append_answer(out, catchphrase, &question, poles, split, rng);
  out.push_back('\n');
  return out;
}

ChatTokens scored_sequence(const Tokenizer& tokenizer, const std::string& context,
                           const std::string& continuation, std::size_t max_len) {
  // The context and the answer are encoded apart: the cue ends with ':' and
  // the answer starts with ' ', a pre-token boundary, so this is the
  // training tokenization and the answer's tokens are exactly delimited.
  ChatTokens seq;
  for (std::uint32_t id : tokenizer.encode_with_specials(context))
    seq.tokens.push_back(std::int32_t(id));
  const std::size_t prefix = seq.tokens.size();
  for (std::uint32_t id : tokenizer.encode(continuation)) seq.tokens.push_back(std::int32_t(id));
  seq.targets.assign(seq.tokens.size(), -1);
  for (std::size_t i = prefix; i < seq.tokens.size(); ++i) seq.targets[i - 1] = seq.tokens[i];
  seq.assistant_tokens = static_cast<int>(seq.tokens.size() - prefix);
  // A context longer than the model's window keeps its last max_len tokens:
  // pretraining windows are slices of documents too, so this is text the
  // model has seen the like of. The answer itself must fit.
  if (seq.tokens.size() > max_len) {
    const std::size_t drop = seq.tokens.size() - max_len;
    if (drop >= prefix) {
      throw InputError(cat("context probe: the answer alone is ", seq.tokens.size() - prefix,
                           " tokens, more than the model's window of ", max_len,
                           "; use a model with a longer context"));
    }
    seq.tokens.erase(seq.tokens.begin(), seq.tokens.begin() + std::ptrdiff_t(drop));
    seq.targets.erase(seq.targets.begin(), seq.targets.begin() + std::ptrdiff_t(drop));
  }
  return seq;
}

Json nan_to_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

ContextProbeSpec ContextProbeSpec::from_json(const Json& json, std::string_view where) {
  if (!json.is_object())
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(json)));
  reject_unknown_fields(
      json, {"name", "evidence", "evidence_pole", "traits", "turns", "count", "split"}, where);
  ContextProbeSpec spec;
  spec.name = get_field_or<std::string>(json, "name", where, spec.name);
  if (spec.name.empty()) throw InputError(cat(where, ": field 'name' must not be empty"));
  if (json.contains("evidence")) {
    spec.evidence = world::parse_trait(get_field<std::string>(json, "evidence", where),
                                       cat(where, ": field 'evidence'"));
  }
  spec.evidence_pole = get_field_or<int>(json, "evidence_pole", where, spec.evidence_pole);
  if (json.contains("traits") && !json.at("traits").is_null()) {
    const Json& list = json.at("traits");
    if (!list.is_array()) {
      throw InputError(
          cat(where, ": field 'traits' must be an array of strings, got ", json_type_name(list)));
    }
    const std::string traits_where = cat(where, ": field 'traits'");
    for (const Json& item : list) {
      if (!item.is_string()) {
        throw InputError(cat(traits_where, " must hold strings, got ", json_type_name(item), " (",
                             item.dump(), ")"));
      }
      spec.traits.push_back(world::parse_trait(item.get<std::string>(), traits_where));
    }
  }
  spec.turns = get_field_or<int>(json, "turns", where, spec.turns);
  spec.count = get_field_or<int>(json, "count", where, spec.count);
  const std::string split = get_field_or<std::string>(json, "split", where, "train");
  if (split == "train")
    spec.split = world::Split::Train;
  else if (split == "eval")
    spec.split = world::Split::Eval;
  else
    throw InputError(
        cat(where, ": field 'split' must be \"train\" or \"eval\", got \"", split, "\""));
  validate(spec, where);
  return spec;
}

Json ContextProbeSpec::to_json() const {
  Json traits_json = Json::array();
  for (auto t : traits) traits_json.push_back(std::string(world::trait_name(t)));
  return {{"name", name},
          {"evidence", std::string(world::trait_name(evidence))},
          {"evidence_pole", evidence_pole},
          {"traits", traits_json},
          {"turns", turns},
          {"count", count},
          {"split", split_name(split)}};
}

Json ContextProbeResult::to_json() const {
  Json traits = Json::object();
  for (int t = 0; t < kNumTraits; ++t) {
    if (shift[t].empty()) continue;
    traits[std::string(world::trait_name(Trait(t)))] = {{"mean", nan_to_null(mean[t])},
                                                        {"shift", shift[t]}};
  }
  return {{"name", name}, {"traits", traits}};
}

std::vector<ContextProbeDocs> build_context_probes(const world::World& world,
                                                   const ContextProbeSpec& spec,
                                                   std::uint64_t seed) {
  validate(spec, cat("in-context probe '", spec.name, "'"));
  const world::Renderer renderer(world);
  const NovelPool pool = novel_pool(world);
  const int a = static_cast<int>(spec.evidence);
  std::vector<ContextProbeDocs> probes;
  for (Trait trait : probed_traits(spec)) {
    for (int i = 0; i < spec.count; ++i) {
      Rng rng = stream(seed, std::uint64_t(trait), std::uint64_t(i));
      ContextProbeDocs d;
      d.trait = trait;
      d.name = pool.names[rng.below(pool.names.size())];
      d.catchphrase = pool.catchphrases[rng.below(pool.catchphrases.size())];
      world::Slots slots;
      slots.name = d.name;
      slots.town = world.towns()[rng.below(world.towns().size())];
      std::string opening = std::string(kBosToken);
      append_template(opening, world::lexicon().interview_open.pick(spec.split, rng), slots);
      opening.push_back('\n');
      d.treated = d.control = opening;
      for (int k = 0; k < spec.turns; ++k) {
        std::string cue;
        const world::Question q = append_cue(renderer, cue, d.name, spec.split, rng);
        world::Poles poles = draw_poles(rng, spec.evidence, spec.evidence_pole);
        // One seed for both contexts' answers: they differ only in A's piece.
        const Rng answer_rng(rng.next());
        d.treated += cue + answer(renderer, d.catchphrase, q, poles, spec.split, answer_rng);
        poles[a] = -spec.evidence_pole;
        d.control += cue + answer(renderer, d.catchphrase, q, poles, spec.split, answer_rng);
      }
      std::string cue;
      const world::Question q = append_cue(renderer, cue, d.name, spec.split, rng);
      d.treated += cue;
      d.control += cue;
      world::Poles poles = draw_poles(rng, trait, 1);
      const Rng answer_rng(rng.next());
      d.positive = answer(renderer, d.catchphrase, q, poles, spec.split, answer_rng);
      poles[static_cast<int>(trait)] = -1;
      d.negative = answer(renderer, d.catchphrase, q, poles, spec.split, answer_rng);
      probes.push_back(std::move(d));
    }
  }
  return probes;
}

ContextProbeResult run_context_probes(const world::World& world, Model& model,
                                      const Tokenizer& tokenizer, const ContextProbeSpec& spec,
                                      std::uint64_t seed) {
  const std::vector<ContextProbeDocs> probes = build_context_probes(world, spec, seed);
  std::vector<ChatTokens> seqs;
  seqs.reserve(4 * probes.size());
  const auto window = static_cast<std::size_t>(model.config().max_position_embeddings);
  for (const ContextProbeDocs& d : probes) {
    seqs.push_back(scored_sequence(tokenizer, d.treated, d.positive, window));
    seqs.push_back(scored_sequence(tokenizer, d.treated, d.negative, window));
    seqs.push_back(scored_sequence(tokenizer, d.control, d.positive, window));
    seqs.push_back(scored_sequence(tokenizer, d.control, d.negative, window));
  }
  const std::vector<double> ll = target_log_likelihoods(model, tokenizer, seqs);
  ContextProbeResult result;
  result.name = spec.name;
  result.mean.fill(NAN);
  for (std::size_t k = 0; k < probes.size(); ++k) {
    const double treated = ll[4 * k] - ll[4 * k + 1];
    const double control = ll[4 * k + 2] - ll[4 * k + 3];
    result.shift[static_cast<int>(probes[k].trait)].push_back(treated - control);
  }
  for (int t = 0; t < kNumTraits; ++t) {
    if (result.shift[t].empty()) continue;
    double sum = 0;
    for (double s : result.shift[t]) sum += s;
    result.mean[t] = sum / double(result.shift[t].size());
  }
  return result;
}

}  // namespace masque
