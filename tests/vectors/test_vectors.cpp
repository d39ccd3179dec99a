// Persona-vector extraction pieces: the direction math (mean-diff, PCA sign
// and scale, absent zero layers, best layer), engine capture equal to a
// whole-sequence forward, contrast sets and pair files, and extraction's
// refusals (no separating pair, unknown trait, empty data).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "../infer/tiny_world.h"
#include "core/error.h"
#include "model/model.h"
#include "persona/persona_vector.h"
#include "vectors/activations.h"
#include "vectors/contrast_pairs.h"
#include "vectors/direction.h"
#include "vectors/extract.h"
#include "vectors/stats.h"
#include "world/contrast_set.h"
#include "world/world.h"

namespace masque::vectors {
namespace {

namespace fs = std::filesystem;

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

TEST(Direction, MeanDiffPcaAndAbsentLayers) {
  // 2 layers (0, 1), hidden 3. Layer 0 identical for both poles (absent);
  // layer 1: positives = negatives + (2, 0, 0) + noise along axis 1.
  const int d = 3;
  std::vector<std::vector<float>> pos, neg;
  const float noise[] = {0.3f, -0.2f, 0.1f, -0.2f};
  for (int i = 0; i < 4; ++i) {
    std::vector<float> n = {1.0f, 1.0f + i, 0.5f, 0.1f * i, 0.2f, -1.0f};
    std::vector<float> p = n;
    p[3] += 2.0f;
    p[4] += noise[i];
    pos.push_back(p);
    neg.push_back(n);
    // layer 0 equal in both
    pos.back()[0] = neg.back()[0];
  }
  std::vector<const std::vector<float>*> pa, na;
  for (int i = 0; i < 4; ++i) pa.push_back(&pos[i]), na.push_back(&neg[i]);
  const Direction md = compute_direction(pa, na, 1, d, Method::kMeanDiff);
  ASSERT_EQ(md.layers.size(), 2u);
  EXPECT_TRUE(md.layers[0].empty()) << "zero difference must leave the layer absent";
  EXPECT_TRUE(std::isnan(md.separation[0]));
  ASSERT_EQ(md.layers[1].size(), 3u);
  EXPECT_NEAR(md.layers[1][0], 2.0, 1e-6);
  EXPECT_NEAR(md.layers[1][1], 0.0, 1e-6);  // noise averages to 0
  EXPECT_EQ(md.best_layer, 1);
  EXPECT_GT(md.separation[1], 3.0);

  const Direction pc = compute_direction(pa, na, 1, d, Method::kPca);
  ASSERT_EQ(pc.layers[1].size(), 3u);
  // First component of the differences is close to the x axis, positive
  // side (positives project higher), scaled to the mean projection (~2).
  EXPECT_GT(pc.layers[1][0], 1.9);
  EXPECT_LT(std::abs(pc.layers[1][1]), 0.3);
  // Swapping the poles flips the sign.
  const Direction flipped = compute_direction(na, pa, 1, d, Method::kPca);
  EXPECT_LT(flipped.layers[1][0], -1.9);

  EXPECT_THROW(compute_direction({}, {}, 1, d, Method::kMeanDiff), InputError);
  EXPECT_THROW(parse_method("median", "--method"), InputError);
  EXPECT_THROW(parse_pooling("everything", "--positions"), InputError);
}

TEST(Stats, PearsonSpearmanAndInterval) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6}, y = {2, 4, 6, 8, 10, 13};
  EXPECT_NEAR(pearson(x, y), 0.996, 0.01);
  EXPECT_DOUBLE_EQ(spearman(x, y), 1.0);
  const persona::Interval ci = correlation_interval(x, y, 200, 1);
  EXPECT_LE(ci.low, ci.value);
  EXPECT_GE(ci.high, ci.value - 1e-12);
  EXPECT_TRUE(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
}

TEST(Capture, EngineEqualsWholeSequenceForward) {
  const auto w = test_world::make_tiny_world("vec_capture");
  Model model(w.config);
  model.init_weights(5);
  const int L = w.config.num_hidden_layers, d = w.config.hidden_size;
  std::vector<TokenSequence> seqs = {
      {{1, 5, 9, 11, 20, 3, 7}, 4}, {{2, 8, 4}, 3}, {{6, 6, 9, 1}, 1}};
  CaptureOptions options;
  options.batch = 2;  // two engine batches
  const std::vector<SequenceActivations> acts = capture_activations(model, seqs, options);
  ASSERT_EQ(acts.size(), 3u);
  EXPECT_TRUE(acts[1].response_mean.empty());  // no response tokens
  for (std::size_t s = 0; s < seqs.size(); ++s) {
    // Reference: the training-path forward, observing every layer.
    std::vector<std::unique_ptr<Observation>> obs;
    Interventions all;
    for (int layer = 0; layer <= L; ++layer) {
      obs.push_back(std::make_unique<Observation>());
      all.add(persona::observe_intervention(layer, L, obs.back().get()), L, d);
    }
    const int T = static_cast<int>(seqs[s].tokens.size());
    std::vector<float> logits(static_cast<std::size_t>(T) * w.config.vocab_size);
    model.forward_logits(seqs[s].tokens.data(), 1, T, logits.data(), CallOptions{&all, nullptr});
    const int P = seqs[s].prompt_length;
    for (int layer = 0; layer <= L; ++layer) {
      const float* rows = obs[layer]->values.data();
      for (int k = 0; k < d; ++k) {
        double pm = 0, rm = 0;
        for (int t = 0; t < P; ++t) pm += rows[t * d + k];
        for (int t = P; t < T; ++t) rm += rows[t * d + k];
        const std::size_t at = static_cast<std::size_t>(layer) * d + k;
        EXPECT_NEAR(acts[s].prompt_last[at], rows[(P - 1) * d + k], 1e-4);
        EXPECT_NEAR(acts[s].prompt_mean[at], pm / P, 1e-4);
        if (T > P) {
          EXPECT_NEAR(acts[s].response_mean[at], rm / (T - P), 1e-4);
        }
      }
    }
  }
  std::vector<TokenSequence> bad = {{{1, 2}, 0}};
  EXPECT_THROW(capture_activations(model, bad), InputError);
}

TEST(ContrastSet, DeterministicPairsAndStrictReader) {
  const world::World world = world::World::build(world::WorldSpec{}, 5);
  const auto dir = test_world::fresh_dir("vec_contrast");
  world::ContrastSetSpec spec;
  spec.trait = world::Trait::Kindness;
  spec.count = 6;
  world::write_contrast_set(world, spec, 3, dir / "a.jsonl");
  world::write_contrast_set(world, spec, 3, dir / "b.jsonl");
  std::ifstream a(dir / "a.jsonl"), b(dir / "b.jsonl");
  const std::string ta((std::istreambuf_iterator<char>(a)), {}),
      tb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(ta, tb);
  const std::vector<ContrastPair> pairs = read_contrast_pairs(dir / "a.jsonl");
  ASSERT_EQ(pairs.size(), 6u);
  for (const ContrastPair& p : pairs) {
    EXPECT_EQ(p.trait, "kindness");
    EXPECT_FALSE(p.ready);
    ASSERT_EQ(p.positive_prompt.size(), 2u);                                // system + user
    EXPECT_EQ(p.positive_prompt[1].content, p.negative_prompt[1].content);  // same question
    EXPECT_NE(p.positive_prompt[0].content, p.negative_prompt[0].content);
    EXPECT_EQ(p.question, p.positive_prompt[1].content);
  }
  spec.count = 0;
  EXPECT_THROW(world::write_contrast_set(world, spec, 3, dir / "c.jsonl"), InputError);
  EXPECT_FALSE(fs::exists(dir / "c.jsonl"));

  std::ofstream(dir / "empty.jsonl") << "\n";
  EXPECT_NE(error_of<InputError>([&] {
              read_contrast_pairs(dir / "empty.jsonl");
            }).find("no contrast pairs"),
            std::string::npos);
  std::ofstream(dir / "mixed.jsonl")
      << "{\"positive\": \"a\", \"negative\": \"b\"}\n"
      << "{\"positive\": {\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}, "
         "\"negative\": {\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}}\n";
  EXPECT_NE(error_of<InputError>([&] { read_contrast_pairs(dir / "mixed.jsonl"); }).find("line 2"),
            std::string::npos);
  std::ofstream(dir / "answered.jsonl")
      << "{\"positive\": {\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": "
         "\"assistant\", \"content\": \"a\"}]}, \"negative\": {\"messages\": [{\"role\": "
         "\"user\", \"content\": \"q\"}]}}\n";
  EXPECT_THROW(read_contrast_pairs(dir / "answered.jsonl"), InputError);
  std::ofstream(dir / "unknown.jsonl") << "{\"positive\": \"a\", \"negative\": \"b\", \"x\": 1}\n";
  EXPECT_THROW(read_contrast_pairs(dir / "unknown.jsonl"), InputError);
}

TEST(Extract, RefusesWhenNoPairSeparatesAndUnknownTraits) {
  const auto w = test_world::make_tiny_world("vec_extract");
  Model model(w.config);
  model.init_weights(9);  // random weights: answers the scorer cannot read
  const world::World world = world::World::build(world::WorldSpec{}, 5);
  world::ContrastSetSpec spec;
  spec.count = 3;
  world::write_contrast_set(world, spec, 1, w.dir / "pairs.jsonl");
  const std::vector<ContrastPair> pairs = read_contrast_pairs(w.dir / "pairs.jsonl");
  ExtractOptions options;
  options.max_tokens = 6;
  EXPECT_NE(error_of<InputError>([&] {
              extract_persona_vector(model, w.tokenizer, &world, pairs, options);
            }).find("no pair separates"),
            std::string::npos);
  EXPECT_NE(error_of<InputError>([&] {
              extract_persona_vector(model, w.tokenizer, nullptr, pairs, options);
            }).find("--world"),
            std::string::npos);
  ExtractOptions unknown = options;
  unknown.trait = "charisma";
  EXPECT_THROW(extract_persona_vector(model, w.tokenizer, &world, pairs, unknown), InputError);
  EXPECT_THROW(extract_persona_vector(model, w.tokenizer, &world, {}, options), InputError);

  // Ready texts: every pair kept; identical texts separate nowhere.
  ContrastPair same;
  same.ready = true;
  same.positive_text = same.negative_text = "Ada likes the cat.";
  EXPECT_NE(error_of<InputError>([&] {
              extract_persona_vector(model, w.tokenizer, nullptr, {same}, options);
            }).find("no pair separates"),
            std::string::npos);
  ContrastPair ready = same;
  ready.negative_text = "Bo sees a red ball.";
  const ExtractResult r = extract_persona_vector(model, w.tokenizer, nullptr, {ready}, options);
  EXPECT_EQ(r.kept, 1);
  EXPECT_EQ(r.vector.num_layers(), w.config.num_hidden_layers);
  EXPECT_GE(r.vector.best_layer, 1);
  EXPECT_EQ(r.vector.model, persona::model_fingerprint(w.config, w.tokenizer));
}

}  // namespace
}  // namespace masque::vectors
