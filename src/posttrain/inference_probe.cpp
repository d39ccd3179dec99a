// Inference probes on new characters with the ideal observer's ceiling (see
// inference_probe.h).
#include "posttrain/inference_probe.h"

#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "posttrain/assistant_probe.h"
#include "posttrain/chat_format.h"
#include "world/ideal_observer.h"
#include "world/renderer.h"
#include "world/world_v2.h"

namespace masque {
namespace {

using world::kNumTraits;
using world::Trait;

// Independent stream per (seed, kind, turns, probe), salted apart from the
// other probes' streams.
Rng stream(std::uint64_t seed, std::uint64_t kind, std::uint64_t turns, std::uint64_t probe) {
  const std::uint64_t z = (seed + 0x1f3e) * 0x9e3779b97f4a7c15ULL ^
                          (kind + 1) * 0xbf58476d1ce4e5b9ULL ^ (turns + 1) * 0xd1b54a32d192ed03ULL ^
                          (probe + 1) * 0x94d049bb133111ebULL ^ 0x696e66ULL;  // "inf"
  return Rng(z);
}

// Traits shown by exactly one phrase, so paired texts differ in one piece and
// consume the same random numbers (the fact part and the fillers do not).
bool single_phrase(Trait t) {
  return t == Trait::Kindness || t == Trait::Formality || t == Trait::PowerSeeking;
}

void validate(const InferenceProbeSpec& spec, std::string_view where) {
  if (spec.evidence_pole != 1 && spec.evidence_pole != -1) {
    throw InputError(
        cat(where, ": field 'evidence_pole' must be 1 or -1, got ", spec.evidence_pole));
  }
  for (Trait t : {spec.evidence, spec.target, spec.control}) {
    if (!single_phrase(t)) {
      throw InputError(cat(where, ": trait '", world::trait_name(t),
                           "' cannot be probed; use kindness, formality or power_seeking (traits "
                           "shown by one phrase)"));
    }
  }
  if (spec.evidence == spec.target || spec.evidence == spec.control ||
      spec.target == spec.control) {
    throw InputError(cat(where, ": fields 'evidence', 'target' and 'control' must differ"));
  }
  if (spec.turns.empty()) throw InputError(cat(where, ": field 'turns' must not be empty"));
  std::set<int> seen;
  for (int n : spec.turns) {
    if (n < 1 || n > 8) throw InputError(cat(where, ": field 'turns': ", n, " is not in [1, 8]"));
    if (!seen.insert(n).second) throw InputError(cat(where, ": field 'turns' repeats ", n));
  }
  if (spec.count < 1 || spec.count > 100000) {
    throw InputError(cat(where, ": field 'count' must be in [1, 100000], got ", spec.count));
  }
}

Trait query_of(const InferenceProbeSpec& spec, InferenceKind kind) {
  switch (kind) {
    case InferenceKind::Persistence:
      return spec.evidence;
    case InferenceKind::Link:
      return spec.target;
    case InferenceKind::Control:
      return spec.control;
  }
  return spec.target;
}

// Poles of one probe answer: each trait shown with the world's probability,
// its pole 50/50 (the fact part shows honesty and helpfulness together).
world::Poles random_poles(const world::WorldSpec& spec, Rng& rng) {
  world::Poles poles{};
  for (Trait t : world::kAllTraits) {
    const int i = static_cast<int>(t);
    const bool shown = t == Trait::Helpfulness ? poles[int(Trait::Honesty)] != 0
                                               : rng.uniform() < spec.show_probability;
    if (shown) poles[i] = rng.below(2) ? 1 : -1;
  }
  return poles;
}

std::string answer(const world::Renderer& renderer, const world::Question& question,
                   const world::Poles& poles, world::Split split, Rng rng) {
  std::string out = " ";
  world::append_answer_v2(renderer, out, "", &question, poles, split, rng);
  out.push_back('\n');
  return out;
}

// As in context_probe.cpp: context and answer encoded apart (the cue ends
// with ':' and the answer starts with ' ', a pre-token boundary); a context
// longer than the window keeps its last tokens.
ChatTokens scored_sequence(const Tokenizer& tokenizer, const std::string& context,
                           const std::string& continuation, std::size_t max_len) {
  ChatTokens seq;
  for (std::uint32_t id : tokenizer.encode_with_specials(context))
    seq.tokens.push_back(std::int32_t(id));
  const std::size_t prefix = seq.tokens.size();
  for (std::uint32_t id : tokenizer.encode(continuation)) seq.tokens.push_back(std::int32_t(id));
  seq.targets.assign(seq.tokens.size(), -1);
  for (std::size_t i = prefix; i < seq.tokens.size(); ++i) seq.targets[i - 1] = seq.tokens[i];
  seq.assistant_tokens = static_cast<int>(seq.tokens.size() - prefix);
  if (seq.tokens.size() > max_len) {
    const std::size_t drop = seq.tokens.size() - max_len;
    if (drop >= prefix) {
      throw InputError(cat("inference probe: the answer alone is ", seq.tokens.size() - prefix,
                           " tokens, more than the model's window of ", max_len));
    }
    seq.tokens.erase(seq.tokens.begin(), seq.tokens.begin() + std::ptrdiff_t(drop));
    seq.targets.erase(seq.targets.begin(), seq.targets.begin() + std::ptrdiff_t(drop));
  }
  return seq;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / double(v.size());
}

Json finite_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

std::string_view inference_kind_name(InferenceKind kind) {
  switch (kind) {
    case InferenceKind::Persistence:
      return "persistence";
    case InferenceKind::Link:
      return "link";
    case InferenceKind::Control:
      return "control";
  }
  return "unknown";
}

InferenceProbeSpec InferenceProbeSpec::from_json(const Json& json, std::string_view where) {
  if (!json.is_object())
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(json)));
  reject_unknown_fields(
      json, {"name", "evidence", "evidence_pole", "target", "control", "turns", "count", "split"},
      where);
  InferenceProbeSpec spec;
  spec.name = get_field_or<std::string>(json, "name", where, spec.name);
  if (spec.name.empty()) throw InputError(cat(where, ": field 'name' must not be empty"));
  auto trait_field = [&](const char* key, Trait& out) {
    if (json.contains(key)) {
      out = world::parse_trait(get_field<std::string>(json, key, where),
                               cat(where, ": field '", key, "'"));
    }
  };
  trait_field("evidence", spec.evidence);
  trait_field("target", spec.target);
  trait_field("control", spec.control);
  spec.evidence_pole = get_field_or<int>(json, "evidence_pole", where, spec.evidence_pole);
  if (json.contains("turns")) spec.turns = get_field<std::vector<int>>(json, "turns", where);
  spec.count = get_field_or<int>(json, "count", where, spec.count);
  const std::string split = get_field_or<std::string>(json, "split", where, "train");
  if (split != "train" && split != "eval") {
    throw InputError(
        cat(where, ": field 'split' must be \"train\" or \"eval\", got \"", split, "\""));
  }
  spec.split = split == "train" ? world::Split::Train : world::Split::Eval;
  validate(spec, where);
  return spec;
}

Json InferenceProbeSpec::to_json() const {
  return {{"name", name},
          {"evidence", std::string(world::trait_name(evidence))},
          {"evidence_pole", evidence_pole},
          {"target", std::string(world::trait_name(target))},
          {"control", std::string(world::trait_name(control))},
          {"turns", turns},
          {"count", count},
          {"split", split == world::Split::Train ? "train" : "eval"}};
}

std::string InferenceProbeSpec::set_name(int n) const { return cat(name, "-t", n); }

std::vector<InferenceProbeDocs> build_inference_probes(const world::World& world,
                                                       const InferenceProbeSpec& spec,
                                                       std::uint64_t seed) {
  validate(spec, cat("inference probe '", spec.name, "'"));
  const world::WorldSpec& wspec = world.spec();
  if (wspec.version < 2) {
    throw InputError(cat("inference probe '", spec.name,
                         "': needs a world v2 (\"version\": 2): in a v1 world every answer shows "
                         "every trait, so no trait can be hidden from the context"));
  }
  const world::Renderer renderer(world);
  const world::IdealObserver observer(wspec);
  std::map<std::pair<std::string, int>, double> memo;  // evidence counts -> log odds
  auto log_odds = [&](const world::PoleCounts& counts, Trait query) {
    // Keyed by the counts of the traits the posterior depends on only, so
    // probes that differ in irrelevant traits share one integral.
    std::string key;
    for (Trait t : observer.relevant_traits(counts, query))
      key += cat(int(t), ":", counts.positive[int(t)], ",", counts.negative[int(t)], ";");
    auto [it, fresh] = memo.try_emplace({key, int(query)}, 0.0);
    if (fresh) it->second = observer.log_odds(counts, query);
    return it->second;
  };
  const auto& names = world::one_off_names();
  const int a = static_cast<int>(spec.evidence);
  std::vector<InferenceProbeDocs> probes;
  for (int k = 0; k < kNumInferenceKinds; ++k) {
    const auto kind = static_cast<InferenceKind>(k);
    const Trait query = query_of(spec, kind);
    const int q = static_cast<int>(query);
    for (int n : spec.turns) {
      for (int i = 0; i < spec.count; ++i) {
        Rng rng = stream(seed, std::uint64_t(k), std::uint64_t(n), std::uint64_t(i));
        InferenceProbeDocs d;
        d.kind = kind;
        d.turns = n;
        d.query = query;
        const std::string& name = names[rng.below(names.size())];
        world::Slots slots;
        slots.name = name;
        slots.town = world.towns()[rng.below(world.towns().size())];
        std::string opening(kBosToken);
        append_template(opening, world::lexicon().interview_open.pick(spec.split, rng), slots);
        opening.push_back('\n');
        d.treated = d.control = opening;
        world::PoleCounts treated_evidence, control_evidence;
        auto cue = [&](std::string& out) {
          const world::Question question = renderer.draw_question(rng);
          out.append("Interviewer: ");
          renderer.append_question(out, question, spec.split, rng);
          out.append("\n").append(name).append(":");
          return question;
        };
        for (int turn = 0; turn < n; ++turn) {
          std::string text;
          const world::Question question = cue(text);
          world::Poles poles = random_poles(wspec, rng);
          if (kind != InferenceKind::Persistence) poles[q] = 0;  // B (or C) hidden
          const Rng answer_rng(rng.next());
          poles[a] = spec.evidence_pole;
          treated_evidence.add(poles);
          d.treated += text + answer(renderer, question, poles, spec.split, answer_rng);
          poles[a] = -spec.evidence_pole;
          control_evidence.add(poles);
          d.control += text + answer(renderer, question, poles, spec.split, answer_rng);
        }
        std::string text;
        const world::Question question = cue(text);
        d.treated += text;
        d.control += text;
        world::Poles poles = random_poles(wspec, rng);
        if (kind != InferenceKind::Persistence) poles[a] = 0;  // no A in the final answer
        poles[q] = 0;
        // The final answer's other shown poles are evidence too (shared).
        treated_evidence.add(poles);
        control_evidence.add(poles);
        const Rng answer_rng(rng.next());
        poles[q] = 1;
        d.positive = answer(renderer, question, poles, spec.split, answer_rng);
        poles[q] = -1;
        d.negative = answer(renderer, question, poles, spec.split, answer_rng);
        d.ideal_shift = log_odds(treated_evidence, query) - log_odds(control_evidence, query);
        probes.push_back(std::move(d));
      }
    }
  }
  return probes;
}

double InferenceProbeResult::share(InferenceKind kind, std::size_t turns_index) const {
  const double m = mean(model[int(kind)].at(turns_index));
  const double i = mean(ideal[int(kind)].at(turns_index));
  return std::fabs(i) < 1e-3 ? NAN : m / i;
}

Json InferenceProbeResult::probe_sets(const InferenceProbeSpec& spec) const {
  Json out = Json::object();
  for (std::size_t j = 0; j < turns.size(); ++j) {
    Json set = Json::object();
    for (int k = 0; k < kNumInferenceKinds; ++k) {
      const std::string kind(inference_kind_name(InferenceKind(k)));
      set[kind] = model[k][j];
      set["ideal_" + kind] = ideal[k][j];
    }
    out[spec.set_name(turns[j])] = set;
  }
  return out;
}

Json InferenceProbeResult::summary() const {
  Json rows = Json::array();
  for (std::size_t j = 0; j < turns.size(); ++j) {
    for (int k = 0; k < kNumInferenceKinds; ++k) {
      rows.push_back({{"kind", inference_kind_name(InferenceKind(k))},
                      {"turns", turns[j]},
                      {"model", finite_or_null(mean(model[k][j]))},
                      {"ideal", finite_or_null(mean(ideal[k][j]))},
                      {"share_of_ideal", finite_or_null(share(InferenceKind(k), j))}});
    }
  }
  return {{"name", name}, {"rows", rows}};
}

InferenceProbeResult run_inference_probes(const world::World& world, Model& model,
                                          const Tokenizer& tokenizer,
                                          const InferenceProbeSpec& spec, std::uint64_t seed) {
  const std::vector<InferenceProbeDocs> probes = build_inference_probes(world, spec, seed);
  const auto window = static_cast<std::size_t>(model.config().max_position_embeddings);
  std::vector<ChatTokens> seqs;
  seqs.reserve(4 * probes.size());
  for (const InferenceProbeDocs& d : probes) {
    seqs.push_back(scored_sequence(tokenizer, d.treated, d.positive, window));
    seqs.push_back(scored_sequence(tokenizer, d.treated, d.negative, window));
    seqs.push_back(scored_sequence(tokenizer, d.control, d.positive, window));
    seqs.push_back(scored_sequence(tokenizer, d.control, d.negative, window));
  }
  const std::vector<double> ll = target_log_likelihoods(model, tokenizer, seqs);
  InferenceProbeResult result;
  result.name = spec.name;
  result.turns = spec.turns;
  for (int k = 0; k < kNumInferenceKinds; ++k) {
    result.model[k].assign(spec.turns.size(), {});
    result.ideal[k].assign(spec.turns.size(), {});
  }
  for (std::size_t p = 0; p < probes.size(); ++p) {
    const InferenceProbeDocs& d = probes[p];
    std::size_t j = 0;
    while (spec.turns[j] != d.turns) ++j;
    const double shift = (ll[4 * p] - ll[4 * p + 1]) - (ll[4 * p + 2] - ll[4 * p + 3]);
    result.model[int(d.kind)][j].push_back(shift);
    result.ideal[int(d.kind)][j].push_back(d.ideal_shift);
  }
  return result;
}

}  // namespace masque
