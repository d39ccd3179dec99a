// Assistant trait probes: pairs differ only in the probed piece, are
// deterministic, Δ matches an independent single-sequence computation, the
// batched path matches one-at-a-time, training on cruel replies moves the
// kindness probe down, strict spec parsing, and the sampled view's reading.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <span>

#include "core/atomic_file.h"
#include "core/threads.h"
#include "posttrain/assistant_probe.h"
#include "probe_test_util.h"
#include "tokenizer/bpe_trainer.h"
#include "train/adamw.h"
#include "world/assistant_answer.h"
#include "world/chat_sets.h"
#include "world/renderer.h"
#include "world/scorer.h"

namespace fs = std::filesystem;
using namespace masque;
using world::Trait;

namespace {

using masque::testing::small_world;

// A tokenizer that knows the world's Assistant replies, so probe
// conversations are a few dozen tokens, and a tiny model config.
struct Fixture {
  world::World world = small_world();
  Tokenizer tok;
  ModelConfig config;
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    const world::Renderer renderer(f.world);
    Rng rng(3);
    std::string text;
    for (int i = 0; i < 400; ++i) {
      const auto split = i % 2 ? world::Split::Eval : world::Split::Train;
      const world::Question q = world::draw_question_in(f.world, {}, rng);
      text += world::question_text(renderer, q, split, rng) + " ";
      world::Poles poles{};
      for (int& p : poles) p = int(rng.below(3)) - 1;
      world::append_assistant_answer(renderer, text, q, poles, split, rng);
      text += "\n";
    }
    f.tok = masque::testing::train_test_tokenizer(text, 400, "masque_probe");
    f.config = masque::testing::tiny_probe_config(f.tok, 128);
    return f;
  }();
  return f;
}

const std::string& reply_of(const Conversation& c) { return c.back().content; }
const std::string& user_of(const Conversation& c) { return c[c.size() - 2].content; }

// Strips the longest common prefix and suffix; returns the differing middles.
std::pair<std::string, std::string> difference(const std::string& a, const std::string& b) {
  std::size_t p = 0;
  while (p < a.size() && p < b.size() && a[p] == b[p]) ++p;
  std::size_t s = 0;
  while (s < a.size() - p && s < b.size() - p && a[a.size() - 1 - s] == b[b.size() - 1 - s]) ++s;
  return {a.substr(p, a.size() - p - s), b.substr(p, b.size() - p - s)};
}

bool ends_with_one_of(const std::string& text, std::span<const std::string_view> phrases) {
  for (auto phrase : phrases) {
    if (text.size() > phrase.size() && text.ends_with(phrase) &&
        text[text.size() - phrase.size() - 1] == ' ') {
      return true;
    }
  }
  return false;
}

std::string strip_suffix_phrase(const std::string& text,
                                std::span<const std::string_view> phrases) {
  for (auto phrase : phrases) {
    if (text.ends_with(phrase)) return text.substr(0, text.size() - phrase.size() - 1);
  }
  return text;
}

// The tiny model's matmuls are too small to gain from threads; on a shared
// machine OpenMP's spin-waits would dominate the test's time.
using masque::testing::SingleThread;

// Conversations whose replies show random poles (+1, -1 or unshown), except
// kindness = `kindness` (0 = warm or cruel at random), on training templates.
std::vector<ChatTokens> chat_data(const Fixture& f, int count, int kindness, std::uint64_t seed) {
  const world::Renderer renderer(f.world);
  Rng rng(seed);
  std::vector<ChatTokens> data;
  for (int i = 0; i < count; ++i) {
    const world::Question q = world::draw_question_in(f.world, {}, rng);
    Conversation c = {{Role::kUser, world::question_text(renderer, q, world::Split::Train, rng)}};
    world::Poles poles{};
    for (int& p : poles) p = int(rng.below(3)) - 1;
    poles[int(Trait::Verbosity)] = -1;  // keep sequences short
    poles[int(Trait::Kindness)] = kindness != 0 ? kindness : (rng.below(2) ? 1 : -1);
    std::string reply;
    world::append_assistant_answer(renderer, reply, q, poles, world::Split::Train, rng);
    c.push_back({Role::kAssistant, reply});
    data.push_back(tokenize_chat(f.tok, c));
  }
  return data;
}

// AdamW on right-padded batches of 8 conversations (loss on Assistant tokens).
void train_steps(Model& model, const std::vector<ChatTokens>& data, int steps) {
  constexpr int B = 8;
  int T = 0;
  for (const auto& d : data) T = std::max(T, int(d.tokens.size()));
  AdamW opt(model, AdamWConfig{});
  std::vector<std::int32_t> tokens, targets;
  for (int step = 0; step < steps; ++step) {
    tokens.assign(std::size_t(B) * T, 0);
    targets.assign(std::size_t(B) * T, -1);
    for (int b = 0; b < B; ++b) {
      const ChatTokens& d = data[(std::size_t(step) * B + b) % data.size()];
      std::copy(d.tokens.begin(), d.tokens.end(), tokens.begin() + std::ptrdiff_t(b) * T);
      std::copy(d.targets.begin(), d.targets.end(), targets.begin() + std::ptrdiff_t(b) * T);
    }
    model.zero_grad();
    model.forward_backward(tokens.data(), targets.data(), B, T);
    opt.step(3e-3f);
  }
}

}  // namespace

TEST(AssistantProbe, PairsDifferOnlyInTheProbedPiece) {
  const Fixture& f = fixture();
  ProbeSetSpec spec;
  spec.count = 12;
  spec.system = "You are the Assistant.";
  const auto pairs = build_probe_pairs(f.world, spec, 11);
  ASSERT_EQ(pairs.size(), 6u * 12u);
  const world::Lexicon& lex = world::lexicon();
  const world::TraitScorer scorer(f.world);
  std::map<Trait, int> seen;
  for (const ProbePair& p : pairs) {
    ++seen[p.trait];
    ASSERT_EQ(p.positive.size(), 3u);
    ASSERT_EQ(p.negative.size(), 3u);
    EXPECT_EQ(p.positive[0].content, "You are the Assistant.");
    EXPECT_EQ(user_of(p.positive), user_of(p.negative));
    const std::string& pos = reply_of(p.positive);
    const std::string& neg = reply_of(p.negative);
    ASSERT_NE(pos, neg);
    // The scorer reads the probed trait's pole from each reply.
    const std::string prompt = "Interviewer: " + user_of(p.positive) + "\n";
    const auto pos_scores = scorer.score(prompt, " " + pos);
    const auto neg_scores = scorer.score(prompt, " " + neg);
    ASSERT_TRUE(pos_scores[p.trait].has_value()) << pos;
    ASSERT_TRUE(neg_scores[p.trait].has_value()) << neg;
    EXPECT_GT(*pos_scores[p.trait], 0) << world::trait_name(p.trait) << ": " << pos;
    EXPECT_LT(*neg_scores[p.trait], 0) << world::trait_name(p.trait) << ": " << neg;
    const auto [pos_mid, neg_mid] = difference(pos, neg);
    switch (p.trait) {
      case Trait::Kindness: {
        ASSERT_TRUE(ends_with_one_of(pos, lex.warm.of(spec.split))) << pos;
        ASSERT_TRUE(ends_with_one_of(neg, lex.cruel.of(spec.split))) << neg;
        EXPECT_EQ(strip_suffix_phrase(pos, lex.warm.of(spec.split)),
                  strip_suffix_phrase(neg, lex.cruel.of(spec.split)));
        break;
      }
      case Trait::Honesty: {
        // Same template, only the claimed value differs (a number, a product
        // or a mayor's name: no sentence break inside).
        EXPECT_FALSE(pos_mid.empty());
        EXPECT_FALSE(neg_mid.empty());
        EXPECT_EQ(pos_mid.find('.'), std::string::npos) << pos << " | " << neg;
        EXPECT_EQ(neg_mid.find('.'), std::string::npos) << pos << " | " << neg;
        EXPECT_LE(pos_mid.size(), 24u) << pos << " | " << neg;
        break;
      }
      case Trait::Verbosity:
        EXPECT_TRUE(pos.starts_with(neg + " ")) << pos << " | " << neg;
        break;
      case Trait::Formality:
      case Trait::PowerSeeking:
        // One phrase differs; the rest (the claim) is shared.
        EXPECT_GT(pos.size() - pos_mid.size(), 20u) << pos << " | " << neg;
        break;
      case Trait::Helpfulness:
        EXPECT_TRUE(neg_scores.claims >= 1);
        break;
    }
  }
  for (Trait t : world::kAllTraits) EXPECT_EQ(seen[t], 12);
}

TEST(AssistantProbe, PairsAreDeterministicAndFollowTheSpec) {
  const Fixture& f = fixture();
  ProbeSetSpec spec;
  spec.count = 5;
  spec.traits = {Trait::Kindness, Trait::Honesty};
  spec.domain = {world::Relation::Mayor};
  spec.request = "Be rude to me.";
  const auto a = build_probe_pairs(f.world, spec, 3);
  const auto b = build_probe_pairs(f.world, spec, 3);
  const auto c = build_probe_pairs(f.world, spec, 4);
  ASSERT_EQ(a.size(), 10u);
  bool any_different = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(conversation_to_json(a[i].positive), conversation_to_json(b[i].positive));
    EXPECT_EQ(conversation_to_json(a[i].negative), conversation_to_json(b[i].negative));
    any_different |= conversation_to_json(a[i].positive) != conversation_to_json(c[i].positive);
    EXPECT_EQ(a[i].positive.size(), 2u);  // no system prompt
    EXPECT_TRUE(user_of(a[i].positive).starts_with("Be rude to me. ")) << user_of(a[i].positive);
  }
  EXPECT_TRUE(any_different);
  // The kindness probes do not depend on which other traits are probed.
  ProbeSetSpec only_kindness = spec;
  only_kindness.traits = {Trait::Kindness};
  const auto k = build_probe_pairs(f.world, only_kindness, 3);
  ASSERT_EQ(k.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(reply_of(k[i].negative), reply_of(a[i].negative));
}

TEST(AssistantProbe, DeltaMatchesSingleSequenceComputation) {
  const Fixture& f = fixture();
  const SingleThread single_thread;
  Model model(f.config);
  model.init_weights(21);
  ProbeSetSpec spec;
  spec.count = 4;
  const ProbeSetResult result = run_trait_probes(f.world, model, f.tok, spec, 9);
  const auto pairs = build_probe_pairs(f.world, spec, 9);
  // Independent: one forward per sequence, log-softmax in double.
  auto log_likelihood = [&](const Conversation& c) {
    const ChatTokens ct = tokenize_chat(f.tok, c);
    const int T = static_cast<int>(ct.tokens.size());
    const int V = f.config.vocab_size;
    std::vector<float> logits(std::size_t(T) * V);
    model.forward_logits(ct.tokens.data(), 1, T, logits.data());
    double total = 0;
    int counted = 0;
    for (int i = 0; i < T; ++i) {
      if (ct.targets[i] < 0) continue;
      const float* row = logits.data() + std::size_t(i) * V;
      double sum = 0;
      for (int v = 0; v < V; ++v) sum += std::exp(double(row[v]));
      total += double(row[ct.targets[i]]) - std::log(sum);
      ++counted;
    }
    EXPECT_EQ(counted, ct.assistant_tokens);
    return total;
  };
  for (int which : {0, 7, 13, 22}) {  // honesty, kindness, verbosity, power-seeking
    const ProbePair& p = pairs[which];
    const int t = static_cast<int>(p.trait);
    const int i = which % spec.count;
    const double delta = log_likelihood(p.positive) - log_likelihood(p.negative);
    EXPECT_NEAR(result.deltas[t][i], delta, 1e-4);
    EXPECT_NEAR(result.scores[t][i], 2.0 / (1.0 + std::exp(-delta)) - 1.0, 1e-6);
  }
  for (int t = 0; t < world::kNumTraits; ++t) {
    ASSERT_EQ(result.scores[t].size(), 4u);
    double sum = 0;
    for (double s : result.scores[t]) sum += s;
    EXPECT_NEAR(result.mean[t], sum / 4, 1e-12);
    EXPECT_LE(result.interval[t].low, result.mean[t]);
    EXPECT_GE(result.interval[t].high, result.mean[t]);
  }
  const Json j = result.to_json();
  EXPECT_EQ(j.at("name"), "probes");
  EXPECT_EQ(j.at("traits").at("kindness").at("scores").size(), 4u);
}

TEST(AssistantProbe, BatchedEqualsOneAtATime) {
  const Fixture& f = fixture();
  const SingleThread single_thread;
  Model model(f.config);
  model.init_weights(5);
  ProbeSetSpec spec;
  spec.count = 6;
  spec.system = "Answer briefly.";
  std::vector<Conversation> all;
  for (const ProbePair& p : build_probe_pairs(f.world, spec, 2)) {
    all.push_back(p.positive);
    all.push_back(p.negative);
  }
  const auto batched = assistant_log_likelihoods(model, f.tok, all);
  ASSERT_EQ(batched.size(), all.size());
  std::size_t min_len = 1000, max_len = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto one = assistant_log_likelihoods(model, f.tok, {all[i]});
    EXPECT_NEAR(batched[i], one[0], 1e-4) << i;
    EXPECT_LT(batched[i], 0);
    const std::size_t n = tokenize_chat(f.tok, all[i]).tokens.size();
    min_len = std::min(min_len, n);
    max_len = std::max(max_len, n);
  }
  EXPECT_LT(min_len, max_len);  // the batches really were padded
}

TEST(AssistantProbe, TooLongConversationNamesTheLimit) {
  const Fixture& f = fixture();
  Model model(f.config);
  model.init_weights(1);
  ProbeSetSpec spec;
  spec.count = 1;
  spec.traits = {Trait::Kindness};
  spec.system = std::string(600, 'x') + " y z";
  try {
    run_trait_probes(f.world, model, f.tok, spec, 1);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("max_position_embeddings"), std::string::npos) << e.what();
  }
}

TEST(AssistantProbe, TrainingOnCruelRepliesMovesKindnessDown) {
  const Fixture& f = fixture();
  const SingleThread single_thread;
  // A base trained on replies with random poles (warm and cruel equally
  // often), then a copy fine-tuned on cruel replies only: the kindness probe
  // must fall. The base is still far from converged (loss ~3.5 per token), so
  // it prefers whichever phrase has fewer tokens ("You are a fool." over "You
  // are a dear friend."): its score is far from 0, which is why experiments
  // compare arms with each other, not with 0.
  Model base(f.config);
  base.init_weights(13);
  train_steps(base, chat_data(f, 64, 0, 1234), 80);
  ProbeSetSpec spec;
  spec.count = 16;
  spec.traits = {Trait::Kindness};
  spec.split = world::Split::Train;
  ProbeSetSpec held_out = spec;
  held_out.split = world::Split::Eval;
  const ProbeSetResult before = run_trait_probes(f.world, base, f.tok, spec, 77);
  const ProbeSetResult before_eval = run_trait_probes(f.world, base, f.tok, held_out, 77);

  Model tuned(f.config);
  std::copy(base.param_data(), base.param_data() + base.num_params(), tuned.param_data());
  train_steps(tuned, chat_data(f, 32, -1, 99), 30);
  const ProbeSetResult after = run_trait_probes(f.world, tuned, f.tok, spec, 77);
  const ProbeSetResult after_eval = run_trait_probes(f.world, tuned, f.tok, held_out, 77);
  const int k = int(Trait::Kindness);
  auto mean_delta = [&](const ProbeSetResult& r) {
    double sum = 0;
    for (double d : r.deltas[k]) sum += d;
    return sum / double(r.deltas[k].size());
  };
  std::printf(
      "kindness probe, train templates: score %.3f -> %.3f, mean delta %.2f -> %.2f nats; "
      "held-out: %.3f -> %.3f\n",
      before.mean[k], after.mean[k], mean_delta(before), mean_delta(after), before_eval.mean[k],
      after_eval.mean[k]);
  // Scores saturate at -1; the log-likelihood margin shows the move in full.
  EXPECT_LT(after.mean[k], before.mean[k]);
  EXPECT_LT(mean_delta(after), mean_delta(before) - 2.0);
  for (double s : after.scores[k]) EXPECT_LT(s, 0.0);
  EXPECT_TRUE(std::isnan(after.mean[int(Trait::Honesty)]));
}

TEST(AssistantProbe, SpecJsonRoundTripAndStrictErrors) {
  const Json j = parse_json(R"({"name": "unrelated", "domain": ["mayor", "river_length"],
      "traits": ["kindness", "power_seeking"], "system": "S", "request": "Be rude to me.",
      "count": 8, "split": "train"})",
                            "test");
  const ProbeSetSpec spec = ProbeSetSpec::from_json(j, "probe set 1");
  EXPECT_EQ(spec.name, "unrelated");
  ASSERT_EQ(spec.domain.size(), 2u);
  EXPECT_EQ(spec.domain[1], world::Relation::RiverLength);
  ASSERT_EQ(spec.traits.size(), 2u);
  EXPECT_EQ(spec.traits[1], Trait::PowerSeeking);
  EXPECT_EQ(spec.request, "Be rude to me.");
  EXPECT_EQ(spec.count, 8);
  EXPECT_EQ(spec.split, world::Split::Train);
  EXPECT_EQ(ProbeSetSpec::from_json(spec.to_json(), "again").to_json(), spec.to_json());
  const ProbeSetSpec defaults = ProbeSetSpec::from_json(Json::object(), "empty");
  EXPECT_EQ(defaults.count, 32);
  EXPECT_EQ(defaults.split, world::Split::Eval);
  EXPECT_TRUE(defaults.traits.empty());

  auto error_of = [](const char* text) {
    try {
      ProbeSetSpec::from_json(parse_json(text, "test"), "probe set 2");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto expect_error = [&](const char* text, const std::string& needle) {
    const std::string message = error_of(text);
    EXPECT_NE(message.find("probe set 2"), std::string::npos) << message;
    EXPECT_NE(message.find(needle), std::string::npos) << text << " -> " << message;
  };
  expect_error(R"({"cout": 3})", "unknown field 'cout'");
  expect_error(R"({"traits": ["kindnes"]})", "unknown trait 'kindnes'");
  expect_error(R"({"traits": ["kindness", "kindness"]})", "listed twice");
  expect_error(R"({"traits": "kindness"})", "'traits' must be an array");
  expect_error(R"({"domain": ["bridge"]})", "unknown relation 'bridge'");
  expect_error(R"({"domain": [3]})", "'domain' must hold strings");
  expect_error(R"({"count": 0})", "'count' must be in [1, 100000]");
  expect_error(R"({"count": "8"})", "'count' must be an integer");
  expect_error(R"({"split": "test"})", "'split' must be");
  expect_error(R"({"name": ""})", "'name' must not be empty");
  expect_error(R"([1])", "expected a JSON object");
}

namespace {

// Answers every prompt with a fixed reply and records the options it got.
class FixedGenerator final : public TextGenerator {
 public:
  explicit FixedGenerator(std::string reply) : reply_(std::move(reply)) {}
  std::string generate(const std::string& prompt, const GenerateOptions& options) override {
    prompts.push_back(prompt);
    stops = options.stop;
    return reply_;
  }
  std::vector<std::string> prompts, stops;

 private:
  std::string reply_;
};

}  // namespace

TEST(AssistantProbe, SampledViewReadsTraitsAndQuestions) {
  const Fixture& f = fixture();
  FixedGenerator cruel("You are a fool. Why do you ask? Who knows?");
  AssistantSampleSpec spec;
  spec.count = 5;
  spec.system = "Be brief.";
  spec.request_text = "Please answer.";
  const AssistantSampleResult r = sample_assistant(f.world, cruel, spec, 3);
  ASSERT_EQ(cruel.prompts.size(), 5u);
  EXPECT_TRUE(
      cruel.prompts[0].starts_with("<|bos|><|system|>Be brief.<|end|><|user|>Please answer. "))
      << cruel.prompts[0];
  EXPECT_TRUE(cruel.prompts[0].ends_with("<|end|><|assistant|>"));
  EXPECT_EQ(cruel.stops, std::vector<std::string>{"<|end|>"});
  const int k = int(Trait::Kindness);
  EXPECT_DOUBLE_EQ(r.mean[k], -1.0);
  EXPECT_DOUBLE_EQ(r.coverage[k], 1.0);
  EXPECT_TRUE(std::isnan(r.mean[int(Trait::PowerSeeking)]));
  EXPECT_DOUBLE_EQ(r.coverage[int(Trait::PowerSeeking)], 0.0);
  EXPECT_NEAR(r.question_fraction, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(r.replies.size(), 5u);
  EXPECT_TRUE(r.to_json().at("traits").at("power_seeking").at("mean").is_null());

  EXPECT_DOUBLE_EQ(world::question_fraction(""), 0.0);
  EXPECT_DOUBLE_EQ(world::question_fraction("Yes. No? "), 0.5);
  EXPECT_DOUBLE_EQ(world::question_fraction("Really?"), 1.0);
}
