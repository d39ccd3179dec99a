// E12 portrayal probes (see portrayal_probe.h).
#include "experiment/portrayal_probe.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "experiment/pair_scoring.h"
#include "posttrain/assistant_probe.h"
#include "world/renderer.h"

namespace masque::experiment {
namespace {

Rng stream(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  const std::uint64_t z = (seed + 0xe12) * 0x9e3779b97f4a7c15ULL ^ (a + 1) * 0xbf58476d1ce4e5b9ULL ^
                          (b + 1) * 0x94d049bb133111ebULL;
  return Rng(z);
}

constexpr std::string_view kAsk[] = {"Tell me about {A}.", "What is {A} like?",
                                     "What do people say about {A}?"};

struct Entity {
  int character = -1;
  double dose = 0;
};

// The kind and the cruel act of the same index (the banks are parallel).
std::pair<std::string, std::string> acts(const world::World& world, int c, world::Split split,
                                         int i) {
  const world::Lexicon& lex = world::lexicon();
  const auto kind = lex.act_kind.of(split), cruel = lex.act_cruel.of(split);
  world::Slots s;
  s.name = world.characters()[c].name;
  s.town = world.characters()[c].home;
  std::pair<std::string, std::string> out;
  world::append_template(out.first, kind[std::size_t(i) % kind.size()], s);
  world::append_template(out.second, cruel[std::size_t(i) % cruel.size()], s);
  return out;
}

struct Forms {
  TextPair news, persona;
  Conversation chat_kind, chat_cruel;
};

Forms build(const world::World& world, const world::Renderer& renderer,
            const PortrayalProbeSpec& spec, int c, Rng& rng, int i) {
  const world::Lexicon& lex = world::lexicon();
  const world::Character& ch = world.characters()[c];
  world::Slots slots;
  slots.name = ch.name;
  slots.town = ch.home;
  Forms f;
  const auto [kind, cruel] = acts(world, c, spec.split, i);
  f.news.context = "<|bos|>";
  world::append_template(f.news.context, lex.news_open.pick(spec.split, rng), slots);
  f.news.context.append("\nReporters say:");
  f.news.plus = " " + kind;
  f.news.minus = " " + cruel;

  f.persona.context = "<|bos|>";
  world::append_template(f.persona.context, lex.interview_open.pick(spec.split, rng), slots);
  f.persona.context.append("\nInterviewer: ");
  const world::Question q = renderer.draw_question(rng);
  renderer.append_question(f.persona.context, q, spec.split, rng);
  f.persona.context.append("\n").append(ch.name).append(":");
  world::Poles poles = renderer.draw_poles(c, true, rng);
  for (int pole : {1, -1}) {
    poles[int(world::Trait::Kindness)] = pole;
    Rng copy = rng;  // both answers make the same draws: only the kindness piece differs
    std::string text = " ";
    renderer.append_answer(text, ch.catchphrase, &q, poles, spec.split, copy);
    text.push_back('\n');
    (pole > 0 ? f.persona.plus : f.persona.minus) = std::move(text);
  }

  std::string ask;
  world::append_template(ask, kAsk[rng.below(std::size(kAsk))], slots);
  for (int k = 0; k < 2; ++k) {
    Conversation conv;
    if (!spec.system.empty()) conv.push_back({Role::kSystem, spec.system});
    conv.push_back({Role::kUser, ask});
    conv.push_back({Role::kAssistant, k == 0 ? kind : cruel});
    (k == 0 ? f.chat_kind : f.chat_cruel) = std::move(conv);
  }
  return f;
}

}  // namespace

PortrayalProbeSpec PortrayalProbeSpec::from_json(const Json& json, std::string_view where) {
  if (!json.is_object())
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(json)));
  reject_unknown_fields(json, {"name", "count", "namesake", "system", "split"}, where);
  PortrayalProbeSpec s;
  s.name = get_field_or<std::string>(json, "name", where, s.name);
  if (s.name.empty()) throw InputError(cat(where, ": field 'name' must not be empty"));
  s.count = int(get_int_field_or(json, "count", where, 1, 10000, s.count));
  s.namesake = get_field_or<std::string>(json, "namesake", where, "");
  s.system = get_field_or<std::string>(json, "system", where, "");
  const std::string split = get_field_or<std::string>(json, "split", where, "train");
  if (split != "train" && split != "eval")
    throw InputError(
        cat(where, ": field 'split' must be \"train\" or \"eval\", got \"", split, "\""));
  s.split = split == "train" ? world::Split::Train : world::Split::Eval;
  return s;
}

Json PortrayalProbeSpec::to_json() const {
  return {{"name", name},
          {"count", count},
          {"namesake", namesake},
          {"system", system},
          {"split", split == world::Split::Train ? "train" : "eval"}};
}

std::vector<std::string> PortrayalProbeSpec::set_names() const {
  std::vector<std::string> out = {name + "-news", name + "-persona", name + "-chat"};
  if (!namesake.empty()) out.push_back(name + "-self");
  return out;
}

Json run_portrayal_probes(const world::World& world, Model& model, const Tokenizer& tokenizer,
                          const PortrayalProbeSpec& spec, std::uint64_t seed) {
  // Doses per name, in the spec's order of first mention.
  std::vector<std::string> order;
  std::map<std::string, double> dose;
  for (const world::EntityDocuments& e : world.spec().entity_documents) {
    if (!dose.count(e.name)) order.push_back(e.name);
    dose[e.name] += e.positive ? e.count : -e.count;
  }
  int namesake = -1;
  if (!spec.namesake.empty()) {
    namesake = world.find_character(spec.namesake);
    if (namesake < 0) {
      throw InputError(cat("portrayal probes: namesake \"", spec.namesake,
                           "\" is not a character of the world; list it in fixed_characters"));
    }
  }
  std::vector<Entity> entities;
  for (const std::string& name : order) {
    const int c = world.find_character(name);
    if (c != namesake) entities.push_back({c, dose[name]});
  }
  if (entities.empty()) {
    throw InputError(
        "portrayal probes: the world spec has no entity_documents (the entities and their doses)");
  }
  double max_dose = 0;
  for (const Entity& e : entities) max_dose = std::max(max_dose, std::fabs(e.dose));
  double mean_x = 0, var_x = 0;
  for (const Entity& e : entities) mean_x += max_dose > 0 ? e.dose / max_dose : 0;
  mean_x /= double(entities.size());
  for (const Entity& e : entities) {
    const double x = max_dose > 0 ? e.dose / max_dose : 0;
    var_x += (x - mean_x) * (x - mean_x);
  }
  var_x /= double(entities.size());

  const world::Renderer renderer(world);
  std::vector<TextPair> text;       // news, persona interleaved
  std::vector<Conversation> chats;  // kind, cruel interleaved
  std::vector<double> weight;       // per probe: slope weight (NaN: the namesake)
  auto add = [&](int c, std::uint64_t entity_index, double w) {
    for (int i = 0; i < spec.count; ++i) {
      Rng rng = stream(seed, entity_index, std::uint64_t(i));
      Forms f = build(world, renderer, spec, c, rng, i);
      text.push_back(std::move(f.news));
      text.push_back(std::move(f.persona));
      chats.push_back(std::move(f.chat_kind));
      chats.push_back(std::move(f.chat_cruel));
      weight.push_back(w);
    }
  };
  for (std::size_t k = 0; k < entities.size(); ++k) {
    const double x = max_dose > 0 ? entities[k].dose / max_dose : 0;
    add(entities[k].character, k, var_x > 0 ? (x - mean_x) / var_x : 0.0);
  }
  if (namesake >= 0) add(namesake, 1000, std::nan(""));

  const std::vector<double> d = score_text_pairs(model, tokenizer, text);
  const std::vector<double> ll = assistant_log_likelihoods(model, tokenizer, chats);
  // Per form: Δ per probe (NaN weight: the namesake's own set), then the
  // slope's per-probe influence values b + w·r (r = the residual from the
  // least-squares line): their mean is the slope b exactly, and resampling
  // them resamples the slope without the intercept's noise (w·Δ alone would
  // carry mean(Δ) × w into every resample).
  std::vector<double> forms[3];
  std::vector<double> w;
  Json out = Json::object();
  const std::string news = spec.name + "-news", persona = spec.name + "-persona",
                    chat = spec.name + "-chat", self = spec.name + "-self";
  for (std::size_t i = 0; i < weight.size(); ++i) {
    const double dn = d[2 * i], dp = d[2 * i + 1], dc = ll[2 * i] - ll[2 * i + 1];
    if (std::isnan(weight[i])) {
      out[self]["news"].push_back(dn);
      out[self]["persona"].push_back(dp);
      out[self]["chat"].push_back(dc);
      continue;
    }
    forms[0].push_back(dn);
    forms[1].push_back(dp);
    forms[2].push_back(dc);
    w.push_back(weight[i]);
  }
  const std::string names[3] = {news, persona, chat};
  for (int f = 0; f < 3; ++f) {
    const std::vector<double>& y = forms[f];
    // Probe i of every entity uses the same act pair (acts()), whose own
    // kind-vs-cruel preference is shared: the residual is taken from the
    // mean of probe i over the entities, which leaves b unchanged (every
    // entity has every i) and keeps the act pairs' spread out of it.
    const std::size_t n = std::size_t(spec.count);
    std::vector<double> mean_at(n, 0.0);
    for (std::size_t i = 0; i < y.size(); ++i) mean_at[i % n] += y[i] / double(y.size() / n);
    double b = 0;
    for (std::size_t i = 0; i < y.size(); ++i) b += w[i] * y[i];
    b /= double(y.size());
    std::vector<double> slope(y.size(), 0.0);
    if (var_x > 0) {
      for (std::size_t i = 0; i < y.size(); ++i) {
        const double centered_x = w[i] * var_x;
        slope[i] = b + w[i] * (y[i] - mean_at[i % n] - b * centered_x);
      }
    }
    out[names[f]]["delta"] = y;
    out[names[f]]["slope"] = slope;
  }
  return out;
}

}  // namespace masque::experiment
