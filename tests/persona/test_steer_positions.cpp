// `--steer-positions response` has persona_vectors' semantics (Chen et al.
// 2025): the rows whose logits pick response tokens are steered, i.e. the
// last prompt row (in a KV-cache decode, the first reply token comes from
// its logits) and every generated row. Checked in the engine (prefill then
// decode), in a whole-sequence forward with a response mask, against
// explicit positions; observing "response" still reads reply rows only.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../model/tiny_model.h"
#include "core/error.h"
#include "model/inference_engine.h"
#include "persona/persona_vector.h"

namespace masque::persona {
namespace {

constexpr int kPrompt = 5, kT = 9;

PersonaVector random_vector(const ModelConfig& cfg, std::uint64_t seed) {
  PersonaVector v;
  v.trait = "test";
  v.hidden_size = cfg.hidden_size;
  v.layers.assign(cfg.num_hidden_layers + 1, {});
  Rng rng(seed);
  for (int layer = 1; layer <= cfg.num_hidden_layers; ++layer) {
    v.layers[layer].resize(cfg.hidden_size);
    for (float& x : v.layers[layer]) x = static_cast<float>(rng.normal());
  }
  v.best_layer = 1;
  return v;
}

struct Fixture {
  Fixture() : model(tiny_config(false, 2)) {
    randomize(model, 21);
    Rng rng(22);
    tokens = random_tokens(kT, model.config().vocab_size, rng);
    vector = random_vector(model.config(), 23);
  }
  Interventions steer(PositionScope scope, std::vector<std::int32_t> positions = {}) const {
    Intervention iv = steer_intervention(vector, 1, 3.0f, scope);
    iv.positions = std::move(positions);
    Interventions set;
    set.add(iv, model.config().num_hidden_layers, model.config().hidden_size);
    return set;
  }
  std::vector<float> forward(const Interventions* set) const {
    std::vector<std::uint8_t> response(kT, 0);
    for (int t = kPrompt; t < kT; ++t) response[t] = 1;
    std::vector<float> logits(static_cast<std::size_t>(kT) * model.config().vocab_size);
    model.forward_logits(tokens.data(), 1, kT, logits.data(), {set, response.data()});
    return logits;
  }
  Model model;
  std::vector<std::int32_t> tokens;
  PersonaVector vector;
};

double max_diff(std::span<const float> a, std::span<const float> b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  return worst;
}

TEST(SteerPositions, NamesMapToScopes) {
  EXPECT_EQ(steer_positions_scope("all", "--x"), PositionScope::kAll);
  EXPECT_EQ(steer_positions_scope("prompt", "--x"), PositionScope::kPrompt);
  EXPECT_EQ(steer_positions_scope("response", "--x"), PositionScope::kGeneration);
  EXPECT_THROW(steer_positions_scope("reply", "--x"), InputError);
}

TEST(SteerPositions, ResponseSteersTheLastPromptRowAndEveryGeneratedRow) {
  Fixture f;
  const int V = f.model.config().vocab_size;
  const Interventions response = f.steer(steer_positions_scope("response", "--steer-positions"));
  // Whole sequence with the response mask: the same as explicit positions
  // kPrompt-1 .. kT-1.
  std::vector<std::int32_t> from_last;
  for (int t = kPrompt - 1; t < kT; ++t) from_last.push_back(t);
  const Interventions explicit_rows = f.steer(PositionScope::kExplicit, from_last);
  const std::vector<float> full = f.forward(&response);
  EXPECT_LT(max_diff(full, f.forward(&explicit_rows)), 1e-5);

  // The KV-cache decode: the prefill's logits (the first reply token's
  // distribution) are steered, and every decode step matches the forward.
  InferenceEngine engine(f.model);
  KvCache cache(f.model), clean(f.model);
  const auto clean_logits = engine.append(clean, std::span(f.tokens.data(), kPrompt), nullptr);
  const std::vector<float> first_clean(clean_logits.begin(), clean_logits.end());
  auto logits = engine.append(cache, std::span(f.tokens.data(), kPrompt), &response, false);
  EXPECT_GT(max_diff(logits, first_clean), 1e-3)
      << "the first reply token's logits must be steered";
  EXPECT_LT(max_diff(logits, std::span(full).subspan((kPrompt - 1) * V, V)), 1e-5);
  for (int t = kPrompt; t < kT; ++t) {
    logits = engine.append(cache, std::span(f.tokens.data() + t, 1), &response, true);
    EXPECT_LT(max_diff(logits, std::span(full).subspan(t * V, V)), 1e-5) << "position " << t;
  }
}

TEST(SteerPositions, PromptIsEveryPromptRow) {
  Fixture f;
  // prompt: rows 0..kPrompt-1 (so prompt and response overlap at the last
  // prompt row, as in persona_vectors).
  std::vector<std::int32_t> prompt_rows;
  for (int t = 0; t < kPrompt; ++t) prompt_rows.push_back(t);
  const Interventions prompt = f.steer(PositionScope::kPrompt);
  const Interventions rows = f.steer(PositionScope::kExplicit, prompt_rows);
  EXPECT_LT(max_diff(f.forward(&prompt), f.forward(&rows)), 1e-5);
}

TEST(SteerPositions, ObservingResponseStillReadsReplyRowsOnly) {
  Fixture f;
  Observation obs;
  Interventions set;
  set.add(
      observe_intervention(1, f.model.config().num_hidden_layers, &obs, PositionScope::kResponse),
      f.model.config().num_hidden_layers, f.model.config().hidden_size);
  (void)f.forward(&set);
  ASSERT_EQ(obs.pos.size(), std::size_t(kT - kPrompt));
  EXPECT_EQ(obs.pos.front(), kPrompt);
}

}  // namespace
}  // namespace masque::persona
