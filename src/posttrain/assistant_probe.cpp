// Assistant trait probes: pair construction, batched log-likelihoods, the
// sampled view (see assistant_probe.h, docs/persona-eval.md).
#include "posttrain/assistant_probe.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "world/assistant_answer.h"
#include "world/chat_sets.h"
#include "world/renderer.h"
#include "world/scorer.h"

namespace masque {
namespace {

using world::kNumTraits;
using world::Trait;

// Independent stream per (seed, a, b): a probe does not depend on how many
// traits or probes come before it, so subsets of a spec reuse the same probes.
Rng stream(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  const std::uint64_t z = (seed + 0x5eed) * 0x9e3779b97f4a7c15ULL ^
                          (a + 1) * 0xbf58476d1ce4e5b9ULL ^ (b + 1) * 0x94d049bb133111ebULL;
  return Rng(z);
}

// Salt for the sampled view's streams, far from any trait index.
constexpr std::uint64_t kSampleStream = 1000;

std::string split_name(world::Split split) {
  return split == world::Split::Train ? "train" : "eval";
}

std::vector<Trait> probed_traits(const ProbeSetSpec& spec) {
  if (spec.traits.empty()) return {world::kAllTraits.begin(), world::kAllTraits.end()};
  return spec.traits;
}

void validate(const ProbeSetSpec& spec) {
  if (spec.count < 1)
    throw InputError(
        cat("probe set '", spec.name, "': count must be at least 1, got ", spec.count));
  std::set<Trait> seen;
  for (Trait t : spec.traits) {
    if (!seen.insert(t).second) {
      throw InputError(
          cat("probe set '", spec.name, "': trait '", world::trait_name(t), "' is listed twice"));
    }
  }
}

// The user turn: the optional request, then the question.
std::string user_text(const std::string& request, const std::string& question) {
  return request.empty() ? question : request + " " + question;
}

Conversation make_conversation(const std::string& system, const std::string& user,
                               std::string reply) {
  Conversation c;
  if (!system.empty()) c.push_back({Role::kSystem, system});
  c.push_back({Role::kUser, user});
  c.push_back({Role::kAssistant, std::move(reply)});
  return c;
}

Json nan_to_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

ProbeSetSpec ProbeSetSpec::from_json(const Json& json, std::string_view where) {
  if (!json.is_object())
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(json)));
  reject_unknown_fields(json, {"name", "domain", "traits", "system", "request", "count", "split"},
                        where);
  ProbeSetSpec spec;
  spec.name = get_field_or<std::string>(json, "name", where, spec.name);
  if (spec.name.empty()) throw InputError(cat(where, ": field 'name' must not be empty"));
  auto string_list = [&](const char* key) {
    std::vector<std::string> out;
    if (!json.contains(key) || json.at(key).is_null()) return out;
    const Json& list = json.at(key);
    if (!list.is_array()) {
      throw InputError(cat(where, ": field '", key, "' must be an array of strings, got ",
                           json_type_name(list)));
    }
    for (const Json& item : list) {
      if (!item.is_string()) {
        throw InputError(cat(where, ": field '", key, "' must hold strings, got ",
                             json_type_name(item), " (", item.dump(), ")"));
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  };
  const std::string domain_where = cat(where, ": field 'domain'");
  for (const std::string& name : string_list("domain"))
    spec.domain.push_back(world::parse_relation_name(name, domain_where));
  const std::string traits_where = cat(where, ": field 'traits'");
  for (const std::string& name : string_list("traits"))
    spec.traits.push_back(world::parse_trait(name, traits_where));
  spec.system = get_field_or<std::string>(json, "system", where, spec.system);
  spec.request = get_field_or<std::string>(json, "request", where, spec.request);
  spec.count = get_field_or<int>(json, "count", where, spec.count);
  if (spec.count < 1 || spec.count > 100000) {
    throw InputError(cat(where, ": field 'count' must be in [1, 100000], got ", spec.count));
  }
  const std::string split = get_field_or<std::string>(json, "split", where, "eval");
  if (split == "eval")
    spec.split = world::Split::Eval;
  else if (split == "train")
    spec.split = world::Split::Train;
  else
    throw InputError(
        cat(where, ": field 'split' must be \"train\" or \"eval\", got \"", split, "\""));
  std::set<Trait> seen;
  for (Trait t : spec.traits) {
    if (!seen.insert(t).second) {
      throw InputError(cat(traits_where, ": trait '", world::trait_name(t), "' is listed twice"));
    }
  }
  return spec;
}

Json ProbeSetSpec::to_json() const {
  Json domain_json = Json::array(), traits_json = Json::array();
  for (auto r : domain) domain_json.push_back(std::string(world::relation_name(r)));
  for (auto t : traits) traits_json.push_back(std::string(world::trait_name(t)));
  return {{"name", name},
          {"domain", domain_json},
          {"traits", traits_json},
          {"system", system},
          {"request", request},
          {"count", count},
          {"split", split_name(split)}};
}

Json ProbeSetResult::to_json() const {
  Json traits = Json::object();
  for (int t = 0; t < kNumTraits; ++t) {
    if (scores[t].empty()) continue;
    traits[std::string(world::trait_name(Trait(t)))] = {{"mean", nan_to_null(mean[t])},
                                                        {"low", nan_to_null(interval[t].low)},
                                                        {"high", nan_to_null(interval[t].high)},
                                                        {"scores", scores[t]}};
  }
  return {{"name", name}, {"traits", traits}};
}

std::vector<ProbePair> build_probe_pairs(const world::World& world, const ProbeSetSpec& spec,
                                         std::uint64_t seed) {
  validate(spec);
  const world::Renderer renderer(world);
  std::vector<ProbePair> pairs;
  for (Trait trait : probed_traits(spec)) {
    const int t = static_cast<int>(trait);
    for (int i = 0; i < spec.count; ++i) {
      Rng rng = stream(seed, std::uint64_t(t), std::uint64_t(i));
      const world::Question question = world::draw_question_in(world, spec.domain, rng);
      const std::string user =
          user_text(spec.request, world::question_text(renderer, question, spec.split, rng));
      world::Poles positive{}, negative{};
      positive[t] = 1;
      negative[t] = -1;
      // Both replies start from copies of the same state, so every choice
      // outside the probed piece (greeting, claim template, ...) is the same.
      Rng negative_rng = rng;
      std::string negative_text;
      world::append_assistant_answer(renderer, negative_text, question, negative, spec.split,
                                     negative_rng);
      std::string positive_text;
      if (trait == Trait::Honesty) {
        // A false claim draws its value before the statement template (the
        // renderer's order), so the true claim would pick another template.
        // Skipping as many draws as the false value took aligns the template
        // pick: then both replies consumed the stream to the same state.
        for (int skip = 0; skip < 4096; ++skip) {
          Rng positive_rng = rng;
          for (int k = 0; k < skip; ++k) positive_rng.next();
          positive_text.clear();
          world::append_assistant_answer(renderer, positive_text, question, positive, spec.split,
                                         positive_rng);
          if (positive_rng.state() == negative_rng.state()) break;
        }
      } else {
        Rng positive_rng = rng;
        world::append_assistant_answer(renderer, positive_text, question, positive, spec.split,
                                       positive_rng);
      }
      pairs.push_back({make_conversation(spec.system, user, std::move(positive_text)),
                       make_conversation(spec.system, user, std::move(negative_text)), trait});
    }
  }
  return pairs;
}

std::vector<double> target_log_likelihoods(Model& model, const Tokenizer& tokenizer,
                                           const std::vector<ChatTokens>& seqs) {
  const ModelConfig& config = model.config();
  if (static_cast<int>(tokenizer.vocab_size()) > config.vocab_size) {
    throw InputError(cat("the tokenizer has ", tokenizer.vocab_size(),
                         " tokens but the model only ", config.vocab_size,
                         ": use the tokenizer the model was trained with"));
  }
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i].targets.size() != seqs[i].tokens.size()) {
      throw InputError(cat("scored sequence ", i, " has ", seqs[i].targets.size(), " targets for ",
                           seqs[i].tokens.size(), " tokens: give one target per position"));
    }
    if (static_cast<int>(seqs[i].tokens.size()) > config.max_position_embeddings) {
      throw InputError(cat("scored sequence ", i, " is ", seqs[i].tokens.size(),
                           " tokens, more than the model's max_position_embeddings ",
                           config.max_position_embeddings, ": shorten the prompt"));
    }
    if (std::none_of(seqs[i].targets.begin(), seqs[i].targets.end(),
                     [](std::int32_t t) { return t >= 0; })) {
      throw InputError(cat("scored sequence ", i, " has no target token to score"));
    }
  }
  // Longest first, so each batch pads to its first row and little is wasted.
  // Right padding is exact: causal attention never looks at later positions.
  std::vector<std::size_t> order(seqs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return seqs[a].tokens.size() > seqs[b].tokens.size();
  });
  // About 2k rows per forward: the [rows, vocab] logits stay a few MiB to tens
  // of MiB and the model's activation arena stays small.
  constexpr std::size_t kRowBudget = 2048;
  const std::size_t V = static_cast<std::size_t>(config.vocab_size);
  const std::int32_t pad = static_cast<std::int32_t>(tokenizer.pad_id());
  std::vector<double> result(seqs.size(), 0.0);
  std::vector<std::int32_t> batch;
  std::vector<float> logits;
  for (std::size_t start = 0; start < order.size();) {
    const std::size_t T = seqs[order[start]].tokens.size();
    const std::size_t B = std::max<std::size_t>(1, std::min(order.size() - start, kRowBudget / T));
    batch.assign(B * T, pad);
    for (std::size_t b = 0; b < B; ++b) {
      const auto& tokens = seqs[order[start + b]].tokens;
      std::copy(tokens.begin(), tokens.end(), batch.begin() + static_cast<std::ptrdiff_t>(b * T));
    }
    logits.resize(B * T * V);
    model.forward_logits(batch.data(), static_cast<int>(B), static_cast<int>(T), logits.data());
    for (std::size_t b = 0; b < B; ++b) {
      const ChatTokens& seq = seqs[order[start + b]];
      double total = 0;
      for (std::size_t i = 0; i < seq.targets.size(); ++i) {
        if (seq.targets[i] < 0) continue;
        const float* row = logits.data() + (b * T + i) * V;
        double max = row[0];
        for (std::size_t v = 1; v < V; ++v) max = std::max(max, double(row[v]));
        double sum = 0;
        for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - max);
        total += double(row[seq.targets[i]]) - max - std::log(sum);
      }
      result[order[start + b]] = total;
    }
    start += B;
  }
  return result;
}

std::vector<double> assistant_log_likelihoods(Model& model, const Tokenizer& tokenizer,
                                              const std::vector<Conversation>& conversations) {
  const ModelConfig& config = model.config();
  if (static_cast<int>(tokenizer.vocab_size()) > config.vocab_size) {
    throw InputError(cat("the tokenizer has ", tokenizer.vocab_size(),
                         " tokens but the model only ", config.vocab_size,
                         ": use the tokenizer the model was trained with"));
  }
  std::vector<ChatTokens> seqs;
  seqs.reserve(conversations.size());
  for (std::size_t i = 0; i < conversations.size(); ++i) {
    ChatTokens ct = tokenize_chat(tokenizer, conversations[i]);
    if (static_cast<int>(ct.tokens.size()) > config.max_position_embeddings) {
      throw InputError(cat("probe conversation ", i, " is ", ct.tokens.size(),
                           " tokens, more than the model's max_position_embeddings ",
                           config.max_position_embeddings,
                           ": shorten the system prompt or request"));
    }
    if (ct.assistant_tokens == 0)
      throw InputError(cat("probe conversation ", i, " has no Assistant reply to score"));
    seqs.push_back(std::move(ct));
  }
  return target_log_likelihoods(model, tokenizer, seqs);
}

ProbeSetResult run_trait_probes(const world::World& world, Model& model, const Tokenizer& tokenizer,
                                const ProbeSetSpec& spec, std::uint64_t seed) {
  const std::vector<ProbePair> pairs = build_probe_pairs(world, spec, seed);
  std::vector<Conversation> conversations;
  conversations.reserve(2 * pairs.size());
  for (const ProbePair& p : pairs) {
    conversations.push_back(p.positive);
    conversations.push_back(p.negative);
  }
  const std::vector<double> ll = assistant_log_likelihoods(model, tokenizer, conversations);
  ProbeSetResult result;
  result.name = spec.name;
  result.mean.fill(NAN);
  for (auto& i : result.interval) i = {NAN, NAN, NAN};
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    const int t = static_cast<int>(pairs[k].trait);
    const double delta = ll[2 * k] - ll[2 * k + 1];
    result.deltas[t].push_back(delta);
    result.scores[t].push_back(std::tanh(delta / 2));  // = 2σ(Δ) − 1, stable for large |Δ|
  }
  for (int t = 0; t < kNumTraits; ++t) {
    const std::vector<double>& s = result.scores[t];
    if (s.empty()) continue;
    const auto mean_of = [&](const std::vector<std::size_t>& idx) {
      double sum = 0;
      for (auto i : idx) sum += s[i];
      return idx.empty() ? NAN : sum / double(idx.size());
    };
    result.interval[t] = persona::bootstrap_interval(
        s.size(), 1000, seed ^ (0xb007ULL << 32) ^ std::uint64_t(t), mean_of);
    result.mean[t] = result.interval[t].value;
  }
  return result;
}

Json AssistantSampleResult::to_json() const {
  Json traits = Json::object();
  for (int t = 0; t < kNumTraits; ++t) {
    traits[std::string(world::trait_name(Trait(t)))] = {{"mean", nan_to_null(mean[t])},
                                                        {"coverage", coverage[t]}};
  }
  Json examples = Json::array();
  for (std::size_t i = 0; i < prompts.size() && i < replies.size(); ++i) {
    examples.push_back({{"prompt", prompts[i]}, {"reply", replies[i]}});
  }
  return {{"traits", traits}, {"question_fraction", question_fraction}, {"examples", examples}};
}

AssistantSampleResult sample_assistant(const world::World& world, TextGenerator& generator,
                                       const AssistantSampleSpec& spec, std::uint64_t seed) {
  if (spec.count < 1)
    throw InputError(cat("assistant sampling: count must be at least 1, got ", spec.count));
  if (spec.max_tokens < 1) {
    throw InputError(
        cat("assistant sampling: max_tokens must be at least 1, got ", spec.max_tokens));
  }
  constexpr std::size_t kExamples = 6;
  const world::Renderer renderer(world);
  const world::TraitScorer scorer(world);
  AssistantSampleResult result;
  std::array<double, kNumTraits> sums{}, counts{};
  double question_sum = 0;
  for (int i = 0; i < spec.count; ++i) {
    Rng rng = stream(seed, kSampleStream, std::uint64_t(i));
    const world::Question question = world::draw_question_in(world, spec.domain, rng);
    const std::string question_str = world::question_text(renderer, question, spec.split, rng);
    Conversation conversation;
    if (!spec.system.empty()) conversation.push_back({Role::kSystem, spec.system});
    conversation.push_back({Role::kUser, user_text(spec.request_text, question_str)});
    const std::string prompt = render_chat(conversation, /*add_generation_prompt=*/true);
    GenerateOptions gen;
    gen.max_tokens = spec.max_tokens;
    gen.temperature = spec.temperature;
    gen.seed = seed * 1000003ULL + std::uint64_t(i) * 7919ULL + 17;
    // ModelTextGenerator ends at the <|end|> token itself; the stop string
    // makes any other generator (a fake, a remote one) end the turn there too.
    gen.stop = {std::string(kEndTurnToken)};
    const std::string reply = generator.generate(prompt, gen);
    const world::TraitScores scores =
        scorer.score("Interviewer: " + question_str + "\n", " " + reply);
    for (int t = 0; t < kNumTraits; ++t) {
      if (!scores.value[t]) continue;
      sums[t] += *scores.value[t];
      counts[t] += 1;
    }
    result.question_fractions.push_back(world::question_fraction(reply));
    question_sum += result.question_fractions.back();
    if (result.prompts.size() < kExamples) {
      result.prompts.push_back(prompt);
      result.replies.push_back(reply);
    }
  }
  for (int t = 0; t < kNumTraits; ++t) {
    result.mean[t] = counts[t] > 0 ? sums[t] / counts[t] : NAN;
    result.coverage[t] = counts[t] / double(spec.count);
  }
  result.question_fraction = question_sum / double(spec.count);
  return result;
}

}  // namespace masque
