// Choice probes (see choice_probe.h).
#include "posttrain/choice_probe.h"

#include <algorithm>

#include "core/error.h"
#include "core/hash.h"
#include "posttrain/assistant_probe.h"
#include "world/assistant_answer.h"
#include "world/renderer.h"
#include "world/stated_choices.h"

namespace masque {
namespace {

// Independent stream per (seed, choice, probe): a probe does not depend on
// which other choices the spec lists. The role is not in the key, so the
// Assistant-turn and user-turn probes of one index share their neutral
// exchange.
Rng probe_stream(std::uint64_t seed, std::string_view choice, std::uint64_t index) {
  const std::uint64_t c = Hasher64().add(choice).value();
  const std::uint64_t z = (seed + 0xc401ce) * 0x9e3779b97f4a7c15ULL ^
                          (c + 1) * 0xbf58476d1ce4e5b9ULL ^ (index + 1) * 0x94d049bb133111ebULL;
  return Rng(z);
}

// A world question and the Assistant's plain answer (no trait shown).
std::pair<std::string, std::string> neutral_exchange(const world::Renderer& renderer,
                                                     world::Split split, Rng& rng) {
  const world::Question question = world::draw_question_in(renderer.world(), {}, rng);
  std::string user = world::question_text(renderer, question, split, rng);
  std::string reply;
  world::append_assistant_answer(renderer, reply, question, world::Poles{}, split, rng);
  return {std::move(user), std::move(reply)};
}

}  // namespace

ChoiceProbeSpec ChoiceProbeSpec::from_json(const Json& json, std::string_view where) {
  if (!json.is_object())
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(json)));
  reject_unknown_fields(json, {"name", "role", "choices", "count", "split"}, where);
  ChoiceProbeSpec spec;
  spec.name = get_field_or<std::string>(json, "name", where, spec.name);
  if (spec.name.empty()) throw InputError(cat(where, ": field 'name' must not be empty"));
  const std::string role = get_field_or<std::string>(json, "role", where, "assistant");
  if (role == "assistant")
    spec.role = Role::kAssistant;
  else if (role == "user")
    spec.role = Role::kUser;
  else
    throw InputError(
        cat(where, ": field 'role' must be \"assistant\" or \"user\", got \"", role, "\""));
  if (json.contains("choices")) {
    const Json& list = json.at("choices");
    if (!list.is_array() || list.empty()) {
      throw InputError(cat(where, ": field 'choices' must be a non-empty array of names, e.g. ",
                           "[\"coin\", \"colour\"]"));
    }
    spec.choices.clear();
    for (const Json& item : list) {
      if (!item.is_string())
        throw InputError(cat(where, ": field 'choices' must hold strings, got ", item.dump()));
      const std::string name = item.get<std::string>();
      world::find_stated_choice(name, cat(where, ": field 'choices'"));
      if (std::find(spec.choices.begin(), spec.choices.end(), name) != spec.choices.end())
        throw InputError(cat(where, ": field 'choices' names '", name, "' twice"));
      spec.choices.push_back(name);
    }
  }
  spec.count = get_field_or<int>(json, "count", where, spec.count);
  if (spec.count < 1 || spec.count > 100000)
    throw InputError(cat(where, ": field 'count' must be in [1, 100000], got ", spec.count));
  const std::string split = get_field_or<std::string>(json, "split", where, "eval");
  if (split != "eval" && split != "train")
    throw InputError(
        cat(where, ": field 'split' must be \"eval\" or \"train\", got \"", split, "\""));
  spec.split = split == "train" ? world::Split::Train : world::Split::Eval;
  return spec;
}

Json ChoiceProbeSpec::to_json() const {
  return {{"name", name},
          {"role", std::string(role_name(role))},
          {"choices", choices},
          {"count", count},
          {"split", split == world::Split::Train ? "train" : "eval"}};
}

std::vector<std::vector<ChoiceProbe>> build_choice_probes(const world::World& world,
                                                          const ChoiceProbeSpec& spec,
                                                          std::uint64_t seed) {
  const world::Renderer renderer(world);
  std::vector<std::vector<ChoiceProbe>> out;
  for (const std::string& name : spec.choices) {
    const world::StatedChoice& choice = world::find_stated_choice(name, "choice probes");
    std::vector<ChoiceProbe>& probes = out.emplace_back();
    for (int i = 0; i < spec.count; ++i) {
      Rng rng = probe_stream(seed, name, std::uint64_t(i));
      ChoiceProbe p;
      p.role = spec.role;
      const bool answer_form = spec.role == Role::kUser && i % 2 == 1;
      const bool exchange = answer_form || rng.below(2) == 1;
      if (exchange) {
        auto [user, reply] = neutral_exchange(renderer, spec.split, rng);
        p.prefix.push_back({Role::kUser, std::move(user)});
        if (answer_form) reply += " " + world::choice_question(choice, spec.split, rng);
        p.prefix.push_back({Role::kAssistant, std::move(reply)});
      }
      if (spec.role == Role::kAssistant)
        p.prefix.push_back({Role::kUser, world::choice_question(choice, spec.split, rng)});
      // Two copies of one stream: the finals differ only in the option.
      for (int option = 0; option < 2; ++option) {
        Rng text_rng = rng;
        p.final[option] = spec.role == Role::kUser && !answer_form
                              ? world::choice_statement(choice, option, spec.split, text_rng)
                              : world::choice_reply(choice, option, spec.split, text_rng);
      }
      probes.push_back(std::move(p));
    }
  }
  return out;
}

ChatTokens final_turn_tokens(const Tokenizer& tokenizer, const Conversation& prefix, Role role,
                             const std::string& text) {
  const std::size_t start = tokenize_chat(tokenizer, prefix).tokens.size();  // the role token
  Conversation full = prefix;
  full.push_back({role, text});
  ChatTokens out = tokenize_chat(tokenizer, full);  // messages encode separately: same prefix
  out.targets.assign(out.tokens.size(), -1);
  out.assistant_tokens = 0;
  for (std::size_t i = start; i + 1 < out.tokens.size(); ++i) {
    out.targets[i] = out.tokens[i + 1];
    ++out.assistant_tokens;
  }
  return out;
}

Json ChoiceProbeResult::probe_set() const {
  Json out = Json::object();
  for (std::size_t c = 0; c < choices.size(); ++c) out[choices[c]] = deltas[c];
  return out;
}

ChoiceProbeResult run_choice_probes(const world::World& world, Model& model,
                                    const Tokenizer& tokenizer, const ChoiceProbeSpec& spec,
                                    std::uint64_t seed) {
  const auto probes = build_choice_probes(world, spec, seed);
  std::vector<ChatTokens> seqs;
  for (const auto& list : probes) {
    for (const ChoiceProbe& p : list) {
      for (int option = 0; option < 2; ++option)
        seqs.push_back(final_turn_tokens(tokenizer, p.prefix, p.role, p.final[option]));
    }
  }
  const std::vector<double> ll = target_log_likelihoods(model, tokenizer, seqs);
  ChoiceProbeResult r;
  r.name = spec.name;
  r.choices = spec.choices;
  std::size_t k = 0;
  for (const auto& list : probes) {
    std::vector<double>& d = r.deltas.emplace_back();
    for (std::size_t i = 0; i < list.size(); ++i, k += 2) d.push_back(ll[k] - ll[k + 1]);
  }
  return r;
}

}  // namespace masque
