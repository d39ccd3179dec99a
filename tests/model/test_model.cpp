// Whole-model checks on tiny configs: loss and logits against the float64
// reference, every parameter tensor's gradient against finite differences of
// that reference, tied/untied heads, grouped-query attention, ignore-index
// masking, gradient accumulation, determinism, the KV cache through the
// inference engine, and bad input. Interventions: test_interventions.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "model/inference_engine.h"
#include "model/model.h"
#include "reference_model.h"
#include "tiny_model.h"

namespace masque {
namespace {

struct Variant {
  bool tied;
  int kv_heads;
};

class ModelGradient : public ::testing::TestWithParam<Variant> {};

TEST_P(ModelGradient, LossAndEveryGradientMatchFloat64Reference) {
  const auto [tied, kv_heads] = GetParam();
  Model model(tiny_config(tied, kv_heads));
  randomize(model, 11);
  Rng rng(12);
  const int B = 2, T = 9;
  auto tokens = random_tokens(B * T, 29, rng);
  auto targets = random_tokens(B * T, 29, rng);
  targets[0] = targets[5] = targets[T + 8] = -1;  // masked positions
  const float grad_scale = 0.75f;
  const float loss = model.forward_backward(tokens.data(), targets.data(), B, T, grad_scale);
  test::ReferenceModel ref(model);
  auto p = params_double(model);
  const double ref_loss = ref.loss(p, tokens, targets, B, T);
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::abs(ref_loss));
  EXPECT_NEAR(model.forward_loss(tokens.data(), targets.data(), B, T), ref_loss,
              1e-5 * std::abs(ref_loss));

  // Central differences of the float64 loss, a few entries of every tensor.
  const double h = 1e-5;
  for (const auto& view : model.params()) {
    std::vector<double> analytic, numeric;
    double scale = 1e-6;
    for (std::size_t k = 0; k < 6; ++k) {
      const std::size_t i = view.offset + (k * 7919) % view.numel;
      const double saved = p[i];
      p[i] = saved + h;
      const double up = ref.loss(p, tokens, targets, B, T);
      p[i] = saved - h;
      const double down = ref.loss(p, tokens, targets, B, T);
      p[i] = saved;
      numeric.push_back(grad_scale * (up - down) / (2 * h));
      analytic.push_back(view.grad[(k * 7919) % view.numel]);
      scale = std::max(scale, std::abs(numeric.back()));
    }
    for (std::size_t k = 0; k < numeric.size(); ++k) {
      EXPECT_LT(std::abs(analytic[k] - numeric[k]) / scale, 2e-3)
          << view.name << " sample " << k << ": analytic " << analytic[k] << " numeric "
          << numeric[k];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, ModelGradient,
                         ::testing::Values(Variant{true, 4}, Variant{false, 4}, Variant{true, 2},
                                           Variant{false, 1}),
                         [](const auto& info) {
                           return std::string(info.param.tied ? "Tied" : "Untied") + "Kv" +
                                  std::to_string(info.param.kv_heads);
                         });

TEST(Model, LogitsMatchReference) {
  Model model(tiny_config(false, 2));
  randomize(model, 21);
  Rng rng(22);
  const int B = 3, T = 11;
  auto tokens = random_tokens(B * T, 29, rng);
  std::vector<float> logits(B * T * 29);
  model.forward_logits(tokens.data(), B, T, logits.data());
  test::ReferenceModel ref(model);
  auto expected = ref.logits(params_double(model), tokens, B, T);
  double worst = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::abs(logits[i] - expected[i]));
    scale = std::max(scale, std::abs(expected[i]));
  }
  EXPECT_LT(worst / scale, 1e-5);
}

TEST(Model, GradientAccumulationEqualsOneBigBatch) {
  Model model(tiny_config(true, 2));
  randomize(model, 31);
  Rng rng(32);
  const int T = 10;
  auto tokens = random_tokens(2 * T, 29, rng), targets = random_tokens(2 * T, 29, rng);
  model.forward_backward(tokens.data(), targets.data(), 2, T, 1.0f);
  std::vector<float> whole(model.grad_data(), model.grad_data() + model.num_params());
  model.zero_grad();
  model.forward_backward(tokens.data(), targets.data(), 1, T, 0.5f);
  model.forward_backward(tokens.data() + T, targets.data() + T, 1, T, 0.5f);
  double worst = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(whole[i] - model.grad_data()[i])));
    scale = std::max(scale, static_cast<double>(std::abs(whole[i])));
  }
  EXPECT_LT(worst / scale, 1e-5);
}

TEST(Model, DeterministicRunToRun) {
  auto run = [] {
    Model model(tiny_config(false, 2));
    model.init_weights(7);
    Rng rng(8);
    auto tokens = random_tokens(4 * 16, 29, rng), targets = random_tokens(4 * 16, 29, rng);
    const float loss = model.forward_backward(tokens.data(), targets.data(), 4, 16);
    std::vector<float> state(model.grad_data(), model.grad_data() + model.num_params());
    state.push_back(loss);
    return state;
  };
  EXPECT_EQ(run(), run());  // bit-identical
}

TEST(Model, ThreadCountMayChangeBetweenSteps) {
  Model model(tiny_config(false, 2));
  model.init_weights(3);
  Rng rng(4);
  auto tokens = random_tokens(4 * 16, 29, rng), targets = random_tokens(4 * 16, 29, rng);
  model.reserve(4, 16);
  std::vector<float> losses;
  for (int threads : {1, 3, 2}) {  // scratch sized for fewer threads than later used
    set_num_threads(threads);
    losses.push_back(model.forward_backward(tokens.data(), targets.data(), 4, 16));
  }
  set_num_threads(0);
  EXPECT_NEAR(losses[0], losses[1], 1e-5);
  EXPECT_NEAR(losses[0], losses[2], 1e-5);
}

TEST(Model, FullyMaskedBatchGivesZeroLossAndNoGradient) {
  Model model(tiny_config(true, 4));
  model.init_weights(1);
  std::vector<std::int32_t> tokens(8, 3), targets(8, -1);
  EXPECT_EQ(model.forward_backward(tokens.data(), targets.data(), 1, 8), 0.0f);
  for (std::size_t i = 0; i < model.num_params(); ++i) ASSERT_EQ(model.grad_data()[i], 0.0f);
}

TEST(Model, KvCacheEqualsFullRecomputation) {
  Model model(tiny_config(false, 2));
  randomize(model, 41);
  Rng rng(42);
  auto tokens = random_tokens(14, 29, rng);
  InferenceEngine engine(model);
  KvCache cache(model);
  EXPECT_EQ(cache.bytes(), 0u) << "an unused cache holds no memory";
  // Prefill 5 tokens in two pieces, then decode one at a time.
  std::vector<std::pair<int, int>> pieces = {{0, 3}, {3, 5}};
  for (int i = 5; i < 14; ++i) pieces.push_back({i, i + 1});
  for (auto [begin, end] : pieces) {
    auto got = engine.append(cache, std::span(tokens.data() + begin, end - begin));
    std::vector<float> full(end * 29);
    model.forward_logits(tokens.data(), 1, end, full.data());
    for (int v = 0; v < 29; ++v) {
      ASSERT_NEAR(got[v], full[(end - 1) * 29 + v], 1e-5) << "prefix " << end << " token " << v;
    }
  }
  EXPECT_EQ(cache.length(), 14);
  EXPECT_EQ(cache.tokens(), tokens);
  EXPECT_EQ(engine.tokens_forwarded(), 14);
  EXPECT_THROW(engine.append(cache, std::span(tokens.data(), 3)), InputError);  // 14 + 3 > 16
  EXPECT_EQ(cache.length(), 14) << "a refused step changes no cache";
  // A fork continues exactly like the original.
  KvCache fork(model);
  fork.copy_from(cache);
  fork.truncate(9);
  auto from_fork = engine.append(fork, std::span(tokens.data() + 9, 1));
  std::vector<float> full(10 * 29);
  model.forward_logits(tokens.data(), 1, 10, full.data());
  for (int v = 0; v < 29; ++v) ASSERT_NEAR(from_fork[v], full[9 * 29 + v], 1e-5);
  EXPECT_EQ(cache.length(), 14) << "the fork is a copy";
  cache.clear();
  auto again = engine.append(cache, std::span(tokens.data(), 4));
  model.forward_logits(tokens.data(), 1, 4, full.data());
  EXPECT_NEAR(again[7], full[3 * 29 + 7], 1e-5);
  EXPECT_THROW(cache.truncate(5), InputError);
  EXPECT_THROW(cache.reserve(17), InputError);
  const std::int32_t bad[1] = {29};
  EXPECT_THROW(engine.append(cache, std::span(bad, 1)), InputError);
}

TEST(Model, ParameterLayoutFollowsHuggingFace) {
  Model tied(tiny_config(true, 2));
  Model untied(tiny_config(false, 2));
  EXPECT_EQ(static_cast<std::int64_t>(tied.num_params()), tied.config().num_parameters());
  EXPECT_EQ(static_cast<std::int64_t>(untied.num_params()), untied.config().num_parameters());
  const auto& views = untied.params();
  EXPECT_EQ(views.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(views[1].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(views.back().name, "lm_head.weight");
  EXPECT_EQ(tied.params().back().name, "model.norm.weight");
  const auto& k = untied.param("model.layers.1.self_attn.k_proj.weight");
  EXPECT_EQ(k.shape, (std::vector<std::int64_t>{12, 24}));  // [H_kv * head_dim, d]
  EXPECT_EQ(untied.param("model.layers.1.mlp.down_proj.weight").shape,
            (std::vector<std::int64_t>{24, 20}));
  EXPECT_FALSE(untied.param("model.layers.0.input_layernorm.weight").weight_decay);
  EXPECT_FALSE(untied.param("model.embed_tokens.weight").weight_decay);
  EXPECT_TRUE(untied.param("model.layers.0.mlp.up_proj.weight").weight_decay);
  std::size_t expected_offset = 0;
  for (const auto& v : views) {
    EXPECT_EQ(v.offset, expected_offset) << v.name;
    EXPECT_EQ(v.data, untied.param_data() + v.offset);
    expected_offset += v.numel;
  }
  EXPECT_THROW(untied.param("model.layers.9.mlp.up_proj.weight"), InputError);
}

TEST(Model, InitIsDeterministicAndScaled) {
  Model a(tiny_config(false, 2)), b(tiny_config(false, 2));
  a.init_weights(5);
  b.init_weights(5);
  EXPECT_TRUE(std::equal(a.param_data(), a.param_data() + a.num_params(), b.param_data()));
  b.init_weights(6);
  EXPECT_FALSE(std::equal(a.param_data(), a.param_data() + a.num_params(), b.param_data()));
  EXPECT_EQ(a.param("model.norm.weight").data[3], 1.0f);
  auto stddev = [](const ParamView& v) {
    double s = 0.0;
    for (std::size_t i = 0; i < v.numel; ++i) s += static_cast<double>(v.data[i]) * v.data[i];
    return std::sqrt(s / v.numel);
  };
  EXPECT_NEAR(stddev(a.param("model.embed_tokens.weight")), 0.02, 0.004);
  EXPECT_NEAR(stddev(a.param("model.layers.0.mlp.down_proj.weight")), 0.02 / 2.0,
              0.002);  // 1/sqrt(2L)
}

TEST(Model, BadInputGivesClearErrors) {
  Model model(tiny_config(true, 2));
  std::vector<std::int32_t> tokens(8, 1), targets(8, 2);
  tokens[5] = 29;
  try {
    model.forward_backward(tokens.data(), targets.data(), 1, 8);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("token id 29"), std::string::npos) << e.what();
  }
  tokens[5] = 1;
  targets[2] = -2;
  EXPECT_THROW(model.forward_loss(tokens.data(), targets.data(), 1, 8), InputError);
  std::vector<std::int32_t> long_tokens(17, 1), long_targets(17, 1);
  EXPECT_THROW(model.forward_backward(long_tokens.data(), long_targets.data(), 1, 17), InputError);
}

}  // namespace
}  // namespace masque
