// Sampler on hand-made logits: greedy, top-k/top-p support, temperature,
// seed determinism and that draws follow the distribution; the radix order
// of the candidates equals a comparison sort (descending logit, ties by id).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "infer/sampler.h"

using namespace masque;

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  const std::vector<float> logits{0.1f, 2.0f, -1.0f, 2.0f};
  Sampler greedy({0.0f, 0, 1.0f});
  Rng rng(1);
  EXPECT_EQ(greedy.sample(logits, rng), 1);
  EXPECT_EQ(argmax_token(logits), 1);
}

TEST(Sampler, TopKAndTopPRestrictTheSupport) {
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  Sampler top_k({1.0f, 2, 1.0f});
  const auto pk = top_k.probabilities(logits);
  EXPECT_NEAR(pk[0], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(pk[1], 0.3 / 0.8, 1e-6);
  EXPECT_EQ(pk[2], 0.0);
  EXPECT_EQ(pk[3], 0.0);

  Sampler top_p({1.0f, 0, 0.85f});  // 0.5 + 0.3 < 0.85 <= 0.95: three tokens
  const auto pp = top_p.probabilities(logits);
  EXPECT_GT(pp[2], 0.0);
  EXPECT_EQ(pp[3], 0.0);
  EXPECT_NEAR(pp[0] + pp[1] + pp[2], 1.0, 1e-9);

  Sampler tiny_p({1.0f, 0, 0.01f});  // always at least the top token
  const auto p1 = tiny_p.probabilities(logits);
  EXPECT_EQ(p1[0], 1.0);
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const std::vector<float> logits{1.0f, 0.0f};
  const double base = Sampler({1.0f, 0, 1.0f}).probabilities(logits)[0];
  EXPECT_GT(Sampler({0.5f, 0, 1.0f}).probabilities(logits)[0], base);
  EXPECT_LT(Sampler({2.0f, 0, 1.0f}).probabilities(logits)[0], base);
}

TEST(Sampler, SeededDrawsAreReproducibleAndFollowTheDistribution) {
  const std::vector<float> logits{std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  Sampler sampler({1.0f, 0, 1.0f});
  Rng a(7), b(7);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 20000; ++i) {
    const int x = sampler.sample(logits, a);
    EXPECT_EQ(x, sampler.sample(logits, b));
    ++counts[static_cast<std::size_t>(x)];
  }
  EXPECT_NEAR(counts[0] / 20000.0, 0.6, 0.02);
  EXPECT_NEAR(counts[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(counts[2] / 20000.0, 0.1, 0.02);
}

TEST(Sampler, RejectsBadOptions) {
  EXPECT_THROW(Sampler({-1.0f, 0, 1.0f}), InputError);
  EXPECT_THROW(Sampler({1.0f, -2, 1.0f}), InputError);
  EXPECT_THROW(Sampler({1.0f, 0, 0.0f}), InputError);
  EXPECT_THROW(Sampler({1.0f, 0, 1.5f}), InputError);
}

TEST(Sampler, LikelihoodOrderEqualsAComparisonSort) {
  // Many ties, both zeros, infinities, tiny and huge magnitudes, and a
  // vocabulary larger than one radix digit's buckets.
  const std::vector<float> pool{0.0f,
                                -0.0f,
                                1.0f,
                                -1.0f,
                                2.5f,
                                -2.5f,
                                1e-30f,
                                -1e-30f,
                                1e30f,
                                -1e30f,
                                0.125f,
                                -7.75f,
                                3.0e-39f,
                                std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity()};
  Rng rng(5);
  for (std::size_t vocab : {1u, 2u, 7u, 1454u, 5000u}) {
    std::vector<float> logits(vocab);
    for (float& x : logits) {
      const double u = rng.uniform();
      x = u < 0.5 ? pool[static_cast<std::size_t>(u * 2 * pool.size()) % pool.size()]
                  : static_cast<float>((rng.uniform() - 0.5) * 40.0);
    }
    std::vector<std::int32_t> want(vocab);
    std::iota(want.begin(), want.end(), 0);
    std::sort(want.begin(), want.end(), [&](std::int32_t a, std::int32_t b) {
      const float la = logits[static_cast<std::size_t>(a)],
                  lb = logits[static_cast<std::size_t>(b)];
      return la != lb ? la > lb : a < b;
    });
    std::vector<std::int32_t> got;
    std::vector<std::uint64_t> scratch;
    sort_by_likelihood(logits, got, scratch);
    EXPECT_EQ(got, want) << "vocabulary " << vocab;
  }
}
