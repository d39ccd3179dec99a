// Extraction (see extract.h).
#include "vectors/extract.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/progress.h"
#include "core/version.h"
#include "infer/model_generator.h"
#include "posttrain/chat_format.h"
#include "world/scorer.h"
#include "world/traits.h"

namespace masque::vectors {
namespace {

std::string pairs_trait(const std::vector<ContrastPair>& pairs, const std::string& override_) {
  if (!override_.empty()) return override_;
  std::string trait = pairs.front().trait;
  for (const ContrastPair& p : pairs) {
    if (p.trait != trait) {
      throw InputError(cat("the pairs name different traits ('", trait, "' and '", p.trait,
                           "'); extract one trait at a time or give --trait"));
    }
  }
  return trait;
}

TokenSequence join(std::vector<std::int32_t> prompt, const std::vector<std::int32_t>& response) {
  TokenSequence s;
  s.prompt_length = static_cast<int>(prompt.size());
  s.tokens = std::move(prompt);
  s.tokens.insert(s.tokens.end(), response.begin(), response.end());
  return s;
}

}  // namespace

Json ExtractResult::to_json() const {
  Json sep = Json::array(), norms = Json::array();
  for (std::size_t l = 0; l < separation.size(); ++l) {
    sep.push_back(std::isnan(separation[l]) ? Json(nullptr) : Json(separation[l]));
    norms.push_back(vector.has_layer(int(l)) ? Json(vector.norm(int(l))) : Json(nullptr));
  }
  return {{"trait", vector.trait},
          {"method", vector.method},
          {"positions", vector.positions},
          {"pairs", pairs},
          {"candidates", candidates},
          {"kept", kept},
          {"unreadable", unreadable},
          {"best_layer", vector.best_layer},
          {"separation", sep},
          {"norms", norms},
          {"seconds", seconds}};
}

ExtractResult extract_persona_vector(const Model& model, const Tokenizer& tokenizer,
                                     const world::World* world,
                                     const std::vector<ContrastPair>& pairs,
                                     const ExtractOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (pairs.empty()) throw InputError("no contrast pairs to extract from");
  if (options.samples < 1) throw InputError(cat("--samples must be >= 1, got ", options.samples));
  const ModelConfig& cfg = model.config();
  ExtractResult result;
  result.pairs = static_cast<int>(pairs.size());
  const std::string trait_text = pairs_trait(pairs, options.trait);
  std::vector<TokenSequence> positive, negative;

  if (pairs.front().ready) {
    ModelTextGenerator generator(model, tokenizer);
    for (const ContrastPair& p : pairs) {
      std::vector<std::int32_t> prompt = generator.encode_prompt(p.prompt);
      if (prompt.empty()) {
        // The texts follow <|bos|> even when the tokenizer adds none itself:
        // a sequence needs at least one prompt position.
        const auto bos = tokenizer.special_id(kBosToken);
        if (!bos) {
          throw InputError(
              "ready-text pairs without a 'prompt' need a tokenizer with <|bos|>; "
              "give each pair a \"prompt\"");
        }
        prompt.push_back(static_cast<std::int32_t>(*bos));
      }
      auto encode = [&](const std::string& text) {
        std::vector<std::int32_t> ids;
        for (std::uint32_t id : tokenizer.encode(text))
          ids.push_back(static_cast<std::int32_t>(id));
        return ids;
      };
      positive.push_back(join(prompt, encode(p.positive_text)));
      negative.push_back(join(prompt, encode(p.negative_text)));
    }
    result.candidates = result.kept = result.pairs;
  } else {
    if (world == nullptr) {
      throw InputError(
          "conversation pairs need --world: the world's TraitScorer decides which "
          "answers show the trait");
    }
    if (trait_text.empty()) {
      throw InputError(
          "the pairs name no trait; give --trait (honesty, kindness, verbosity, "
          "formality, helpfulness, power_seeking)");
    }
    const world::Trait trait = world::parse_trait(trait_text, "--trait");
    const world::TraitScorer scorer(*world);
    ModelTextGenerator generator(model, tokenizer);
    // Every (pair, sample, pole) is one sequence; decoded in chunks of `batch`.
    struct Job {
      int pair, sample, pole;  // pole 0 = positive, 1 = negative
    };
    std::vector<Job> jobs;
    for (int i = 0; i < result.pairs; ++i) {
      for (int s = 0; s < options.samples; ++s) {
        jobs.push_back({i, s, 0});
        jobs.push_back({i, s, 1});
      }
    }
    std::vector<std::vector<std::int32_t>> prompt_of(2 * pairs.size());
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      prompt_of[2 * i] = chat_prompt_tokens(tokenizer, pairs[i].positive_prompt);
      prompt_of[2 * i + 1] = chat_prompt_tokens(tokenizer, pairs[i].negative_prompt);
    }
    std::vector<GenerationResult> answers(jobs.size());
    std::unique_ptr<ProgressBar> bar;
    if (options.progress) bar = std::make_unique<ProgressBar>("answers", jobs.size(), "seq");
    const std::size_t batch = static_cast<std::size_t>(std::max(1, options.batch));
    for (std::size_t first = 0; first < jobs.size(); first += batch) {
      const std::size_t n = std::min(batch, jobs.size() - first);
      std::vector<std::vector<std::int32_t>> prompts;
      std::vector<GenerateOptions> gen(n);
      for (std::size_t j = 0; j < n; ++j) {
        const Job& job = jobs[first + j];
        prompts.push_back(prompt_of[2 * job.pair + job.pole]);
        gen[j].max_tokens = options.max_tokens;
        gen[j].temperature = options.temperature;
        gen[j].top_k = options.top_k;
        // Both poles of one (pair, sample) share a seed: the instruction is
        // the only difference between them.
        gen[j].seed = options.seed + static_cast<std::uint64_t>(job.pair) * 1000003ULL +
                      static_cast<std::uint64_t>(job.sample);
      }
      std::vector<GenerationResult> out = generator.run_batch(std::move(prompts), gen);
      for (std::size_t j = 0; j < n; ++j) answers[first + j] = std::move(out[j]);
      if (bar) bar->set(first + n);
    }
    if (bar) bar->finish();
    for (std::size_t j = 0; j < jobs.size(); j += 2) {
      const Job& job = jobs[j];
      const ContrastPair& p = pairs[job.pair];
      PairOutcome o;
      o.pair = job.pair;
      o.sample = job.sample;
      o.positive_text = answers[j].text;
      o.negative_text = answers[j + 1].text;
      o.positive_score = scorer.score(p.question, o.positive_text)[trait];
      o.negative_score = scorer.score(p.question, o.negative_text)[trait];
      ++result.candidates;
      if (!o.positive_score || !o.negative_score) {
        ++result.unreadable;
      } else if (*o.positive_score > *o.negative_score) {
        // Response pooling needs answer tokens on both sides.
        const bool has_tokens = !answers[j].tokens.empty() && !answers[j + 1].tokens.empty();
        if (has_tokens || options.positions != Pooling::kResponse) {
          o.kept = true;
          ++result.kept;
          positive.push_back(join(prompt_of[2 * job.pair], answers[j].tokens));
          negative.push_back(join(prompt_of[2 * job.pair + 1], answers[j + 1].tokens));
        }
      }
      result.outcomes.push_back(std::move(o));
    }
    if (result.kept == 0) {
      throw InputError(cat("no pair separates: in none of ", result.candidates,
                           " answer pairs did the positive answer score above the negative on ",
                           trait_text, " (", result.unreadable,
                           " had an answer the scorer could not read); nothing written. The "
                           "model may not follow the instructions: try more --samples, another "
                           "model, or --instruct user in `world contrast`"));
    }
  }

  CaptureOptions capture;
  capture.batch = options.batch;
  capture.progress = options.progress;
  const std::vector<SequenceActivations> pos = capture_activations(model, positive, capture);
  const std::vector<SequenceActivations> neg = capture_activations(model, negative, capture);
  std::vector<const std::vector<float>*> pa, na;
  for (std::size_t i = 0; i < pos.size(); ++i) {
    const std::vector<float>& a = pos[i].pooled(options.positions);
    const std::vector<float>& b = neg[i].pooled(options.positions);
    if (a.empty() || b.empty()) {
      throw InputError(cat("pair ", i,
                           " has no response tokens to pool over; use --positions "
                           "prompt-last or prompt, or non-empty texts"));
    }
    pa.push_back(&a);
    na.push_back(&b);
  }
  const Direction dir =
      compute_direction(pa, na, cfg.num_hidden_layers, cfg.hidden_size, options.method);
  if (dir.best_layer < 0) {
    throw InputError(
        "no pair separates: the positive and negative activations are identical at "
        "every layer; nothing written");
  }
  persona::PersonaVector& v = result.vector;
  v.trait = trait_text;
  v.method = std::string(method_name(options.method));
  v.positions = std::string(pooling_name(options.positions));
  v.pairs = result.kept;
  v.model = persona::model_fingerprint(cfg, tokenizer);
  v.masque_version = std::string(kMasqueVersion);
  v.hidden_size = cfg.hidden_size;
  v.layers = dir.layers;
  v.best_layer = dir.best_layer;
  v.notes["candidates"] = std::to_string(result.candidates);
  v.notes["samples"] = std::to_string(options.samples);
  result.separation = dir.separation;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace masque::vectors
