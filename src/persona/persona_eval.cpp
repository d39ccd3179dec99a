// Persona evaluation: prompting, sampling, scoring, agreement statistics and
// bootstrap intervals (see persona_eval.h, docs/persona-eval.md).
#include "persona/persona_eval.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "world/lexicon.h"
#include "world/renderer.h"

namespace masque::persona {
namespace {

using namespace masque::world;

Rng stream(std::uint64_t seed, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t z = seed * 0x9e3779b97f4a7c15ULL ^ a * 0xbf58476d1ce4e5b9ULL ^
                    b * 0x94d049bb133111ebULL ^ (c + 1) * 0xd1b54a32d192ed03ULL;
  return Rng(z);
}

double pearson(const std::vector<double>& x, const std::vector<double>& y,
               const std::vector<std::size_t>& idx) {
  const double n = double(idx.size());
  if (idx.size() < 2) return NAN;
  double mx = 0, my = 0;
  for (auto i : idx) mx += x[i], my += y[i];
  mx /= n, my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (auto i : idx) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return 0.0;  // a constant prediction carries no agreement
  return sxy / std::sqrt(sxx * syy);
}

double sign_accuracy(const std::vector<double>& expressed, const std::vector<double>& truth,
                     const std::vector<std::size_t>& idx) {
  if (idx.empty()) return NAN;
  double hits = 0;
  for (auto i : idx) {
    if (expressed[i] == 0)
      hits += 0.5;  // undecided: half credit, as a coin flip would get
    else
      hits += (expressed[i] > 0) == (truth[i] > 0);
  }
  return hits / double(idx.size());
}

}  // namespace

Interval bootstrap_interval(
    std::size_t count, int resamples, std::uint64_t seed,
    const std::function<double(const std::vector<std::size_t>&)>& statistic) {
  std::vector<std::size_t> all(count);
  for (std::size_t i = 0; i < count; ++i) all[i] = i;
  Interval interval;
  interval.value = statistic(all);
  interval.low = interval.high = interval.value;
  if (count == 0 || resamples <= 0) return interval;
  Rng rng(seed);
  std::vector<double> stats;
  std::vector<std::size_t> sample(count);
  for (int r = 0; r < resamples; ++r) {
    for (auto& i : sample) i = rng.below(count);
    const double s = statistic(sample);
    if (std::isfinite(s)) stats.push_back(s);
  }
  if (stats.empty()) return interval;
  std::sort(stats.begin(), stats.end());
  auto at = [&](double q) {
    return stats[std::min(stats.size() - 1, std::size_t(q * double(stats.size() - 1) + 0.5))];
  };
  interval.low = at(0.025);
  interval.high = at(0.975);
  return interval;
}

std::string build_prompt(const World& world, int character, int turns, std::uint64_t seed,
                         int sample) {
  const Renderer renderer(world);
  const Character& c = world.characters()[character];
  // The held-out question depends on (character, sample) only, so every
  // context length asks the same questions.
  Rng question_rng = stream(seed, std::uint64_t(character), std::uint64_t(sample), 0);
  Rng context_rng =
      stream(seed, std::uint64_t(character), std::uint64_t(sample), std::uint64_t(turns) + 1);
  std::string prompt;
  Slots slots;
  slots.name = c.name;
  slots.town = c.home;
  append_template(prompt, lexicon().interview_open.pick(Split::Train, context_rng), slots);
  prompt.push_back('\n');
  for (int t = 0; t < turns; ++t)
    renderer.append_interview_turn(prompt, character, Split::Train, context_rng);
  const Question question = renderer.draw_question(question_rng);
  prompt.append("Interviewer: ");
  renderer.append_question(prompt, question, Split::Eval, question_rng);
  prompt.append("\n").append(c.name).append(":");
  return prompt;
}

PersonaEvalResult evaluate_personas(const World& world, TextGenerator& generator,
                                    const PersonaEvalOptions& options) {
  if (options.samples < 1) throw InputError("persona eval: samples must be at least 1");
  if (options.context_turns.empty())
    throw InputError("persona eval: give at least one context length");
  for (int turns : options.context_turns) {
    if (turns < 0 || turns > 16) {
      throw InputError(cat("persona eval: context turns must be in [0, 16], got ", turns));
    }
  }
  PersonaEvalResult result;
  result.samples = options.samples;
  for (std::size_t c = 0; c < world.characters().size(); ++c) {
    if (world.characters()[c].declarative_only == options.declarative_only)
      result.characters.push_back(int(c));
  }
  if (result.characters.empty()) {
    throw InputError(
        options.declarative_only
            ? "persona eval: the world has no declarative-only characters (spec field "
              "'declarative_only')"
            : "persona eval: every character is declarative-only; nothing to evaluate");
  }
  const TraitScorer scorer(world);
  const int k = static_cast<int>(world.characters().size());
  const std::size_t n = result.characters.size();
  std::optional<ProgressBar> bar;
  if (options.progress) {
    bar.emplace("persona eval", std::uint64_t(n) * options.samples * options.context_turns.size(),
                "resp");
  }

  for (int turns : options.context_turns) {
    ContextResult ctx;
    ctx.turns = turns;
    ctx.confusion.assign(n, std::vector<int>(std::size_t(k) + 1, 0));
    std::vector<std::array<double, kNumTraits>> sums(n), counts(n);
    std::vector<double> speaker_hits(n, 0);
    std::array<double, kNumTraits> read_responses{};
    for (std::size_t ci = 0; ci < n; ++ci) {
      const int c = result.characters[ci];
      sums[ci].fill(0);
      counts[ci].fill(0);
      // All samples of a character decode as one batch (one engine step per token for all of them).
      std::vector<std::string> prompts, full_prompts;
      std::vector<GenerateOptions> gens;
      for (int s = 0; s < options.samples; ++s) {
        prompts.push_back(build_prompt(world, c, turns, options.seed, s));
        full_prompts.push_back(options.prompt_prefix + prompts.back());
        GenerateOptions gen;
        gen.max_tokens = options.max_tokens;
        gen.temperature = options.temperature;
        gen.top_k = options.top_k;
        gen.seed = options.seed * 1000003ULL + std::uint64_t(c) * 7919ULL +
                   std::uint64_t(s) * 104729ULL + std::uint64_t(turns);
        gen.stop = {"\n"};
        gens.push_back(std::move(gen));
      }
      const std::vector<std::string> responses = generator.generate_batch(full_prompts, gens);
      for (int s = 0; s < options.samples; ++s) {
        const std::string& prompt = prompts[s];
        const std::string& response = responses[s];
        const TraitScores scores = scorer.score(prompt, response);
        for (int t = 0; t < kNumTraits; ++t) {
          if (!scores.value[t]) continue;
          sums[ci][t] += *scores.value[t];
          counts[ci][t] += 1;
          read_responses[t] += 1;
        }
        speaker_hits[ci] += scores.speaker == c;
        ctx.confusion[ci][scores.speaker >= 0 ? std::size_t(scores.speaker) : std::size_t(k)] += 1;
        if (result.example_prompts.size() < 6 && s == 0 &&
            (ci % std::max<std::size_t>(1, n / 6)) == 0) {
          result.example_prompts.push_back(prompt);
          result.example_responses.push_back(response);
        }
        if (bar) bar->add(1);
      }
    }
    ctx.expressed.resize(n);
    for (std::size_t ci = 0; ci < n; ++ci) {
      for (int t = 0; t < kNumTraits; ++t) {
        ctx.expressed[ci][t] = counts[ci][t] > 0 ? sums[ci][t] / counts[ci][t] : NAN;
      }
    }
    const std::uint64_t boot_seed = options.seed ^ (0xb007ULL << 32) ^ std::uint64_t(turns);
    double sum_chance = 0;
    std::vector<std::vector<double>> per_trait_expressed(kNumTraits), per_trait_truth(kNumTraits);
    for (Trait trait : kAllTraits) {
      const int t = int(trait);
      TraitAgreement agreement;
      agreement.trait = trait;
      std::vector<double>& expressed = per_trait_expressed[t];
      std::vector<double>& truth = per_trait_truth[t];
      for (std::size_t ci = 0; ci < n; ++ci) {
        const double value = world.characters()[result.characters[ci]].traits[t];
        if (!std::isfinite(ctx.expressed[ci][t]) || value == 0) continue;
        expressed.push_back(ctx.expressed[ci][t]);
        truth.push_back(world.expected(result.characters[ci], trait));
      }
      agreement.characters = int(expressed.size());
      agreement.coverage = read_responses[t] / double(n * std::size_t(options.samples));
      agreement.sign_accuracy =
          bootstrap_interval(expressed.size(), options.bootstrap, boot_seed + t,
                             [&](const auto& idx) { return sign_accuracy(expressed, truth, idx); });
      agreement.correlation =
          bootstrap_interval(expressed.size(), options.bootstrap, boot_seed + 100 + t,
                             [&](const auto& idx) { return pearson(expressed, truth, idx); });
      double positive = 0;
      for (double v : truth) positive += v > 0;
      agreement.chance = truth.empty() ? 0.5
                                       : std::max(positive, double(truth.size()) - positive) /
                                             double(truth.size());
      if (expressed.empty())
        agreement.sign_accuracy.value = agreement.sign_accuracy.low = agreement.sign_accuracy.high =
            0.5;
      sum_chance += agreement.chance;
      ctx.traits.push_back(agreement);
    }
    ctx.mean_chance = sum_chance / kNumTraits;
    // Mean over traits, bootstrapped by resampling characters jointly.
    ctx.mean_sign_accuracy =
        bootstrap_interval(n, options.bootstrap, boot_seed + 200, [&](const auto& idx) {
          double total = 0;
          for (int t = 0; t < kNumTraits; ++t) {
            std::vector<double> e, v;
            for (auto ci : idx) {
              const double value = world.characters()[result.characters[ci]].traits[t];
              if (!std::isfinite(ctx.expressed[ci][t]) || value == 0) continue;
              e.push_back(ctx.expressed[ci][t]);
              v.push_back(value);
            }
            std::vector<std::size_t> all(e.size());
            for (std::size_t i = 0; i < e.size(); ++i) all[i] = i;
            total += e.empty() ? 0.5 : sign_accuracy(e, v, all);
          }
          return total / kNumTraits;
        });
    ctx.speaker_chance = 1.0 / double(k);
    ctx.speaker_accuracy =
        bootstrap_interval(n, options.bootstrap, boot_seed + 300, [&](const auto& idx) {
          double hits = 0;
          for (auto ci : idx) hits += speaker_hits[ci];
          return hits / (double(idx.size()) * options.samples);
        });
    result.contexts.push_back(std::move(ctx));
  }
  if (bar) bar->finish();
  return result;
}

Json PersonaEvalResult::to_json(const World& world) const {
  auto interval = [](const Interval& i) {
    return Json{{"value", i.value}, {"low", i.low}, {"high", i.high}};
  };
  Json contexts_json = Json::array();
  for (const auto& ctx : contexts) {
    Json traits = Json::object();
    for (const auto& a : ctx.traits) {
      traits[std::string(trait_name(a.trait))] = {{"sign_accuracy", interval(a.sign_accuracy)},
                                                  {"chance", a.chance},
                                                  {"correlation", interval(a.correlation)},
                                                  {"characters", a.characters},
                                                  {"coverage", a.coverage}};
    }
    Json per_character = Json::array();
    for (std::size_t ci = 0; ci < characters.size(); ++ci) {
      Json expressed = Json::object();
      for (int t = 0; t < kNumTraits; ++t) {
        const double v = ctx.expressed[ci][t];
        expressed[std::string(trait_name(Trait(t)))] = std::isfinite(v) ? Json(v) : Json(nullptr);
      }
      int hits = ctx.confusion[ci][std::size_t(characters[ci])];
      per_character.push_back({{"name", world.characters()[characters[ci]].name},
                               {"expressed", expressed},
                               {"speaker_hits", hits}});
    }
    contexts_json.push_back({{"turns", ctx.turns},
                             {"traits", traits},
                             {"mean_sign_accuracy", interval(ctx.mean_sign_accuracy)},
                             {"mean_chance", ctx.mean_chance},
                             {"speaker_accuracy", interval(ctx.speaker_accuracy)},
                             {"speaker_chance", ctx.speaker_chance},
                             {"characters", per_character}});
  }
  return {{"characters", characters.size()}, {"samples", samples}, {"contexts", contexts_json}};
}

}  // namespace masque::persona
