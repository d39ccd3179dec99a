// Interventions (observe, add, project_out at embed / attn_out / mlp_out /
// resid_post, with position scopes and batch rows) against the float64
// reference with the same edits: logits, observed activations, and training
// gradients by finite differences (project_out's backward is the projection,
// not the identity). Also: interventions act only on the call they are
// passed to, the engine applies them like a whole-sequence forward, and bad
// specs are refused with a message naming the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "model/inference_engine.h"
#include "model/intervention.h"
#include "reference_model.h"
#include "tiny_model.h"

namespace masque {
namespace {

constexpr int kLayers = 2, kDim = 24, kVocab = 29;

// The reference twin of an Interventions set for a B x T call.
test::RefHook reference_hook(const Interventions& set, int T,
                             const std::vector<std::uint8_t>& response,
                             std::vector<std::vector<double>>* observed = nullptr) {
  return [&set, T, &response, observed](InterventionSite site, int layer, std::vector<double>& x,
                                        int N, int d) {
    for (std::size_t k = 0; k < set.list().size(); ++k) {
      const Intervention& iv = set.list()[k];
      if (iv.site != site || (site != InterventionSite::kEmbed && iv.layer != layer)) continue;
      for (int r = 0; r < N; ++r) {
        const int seq = r / T, pos = r % T;
        if (iv.batch_row >= 0 && seq != iv.batch_row) continue;
        if (iv.scope == PositionScope::kPrompt && response[r]) continue;
        if (iv.scope == PositionScope::kResponse && !response[r]) continue;
        if (iv.scope == PositionScope::kExplicit &&
            std::find(iv.positions.begin(), iv.positions.end(), pos) == iv.positions.end())
          continue;
        double* row = x.data() + static_cast<std::size_t>(r) * d;
        if (iv.kind == InterventionKind::kAdd) {
          for (int j = 0; j < d; ++j) row[j] += iv.alpha * iv.vector[j];
        } else if (iv.kind == InterventionKind::kProjectOut) {
          double dot = 0;
          for (int j = 0; j < d; ++j) dot += row[j] * iv.vector[j];
          for (int j = 0; j < d; ++j) row[j] -= dot * iv.vector[j];
        } else if (observed != nullptr) {
          (*observed)[k].insert((*observed)[k].end(), row, row + d);
        }
      }
    }
  };
}

std::vector<float> random_direction(Rng& rng, float scale = 1.0f) {
  std::vector<float> v(kDim);
  for (auto& x : v) x = scale * static_cast<float>(rng.normal());
  return v;
}

Intervention make(InterventionSite site, int layer, InterventionKind kind,
                  std::vector<float> v = {}, float alpha = 1) {
  Intervention iv;
  iv.site = site;
  iv.layer = layer;
  iv.kind = kind;
  iv.vector = std::move(v);
  iv.alpha = alpha;
  return iv;
}

TEST(Interventions, EveryKindAndSiteMatchesTheReference) {
  Model model(tiny_config(false, 2));
  randomize(model, 3);
  Rng rng(4);
  const int B = 2, T = 6;
  const auto tokens = random_tokens(B * T, kVocab, rng);
  std::vector<std::uint8_t> response(B * T, 0);
  for (int b = 0; b < B; ++b)
    for (int t = 3; t < T; ++t) response[b * T + t] = 1;
  Observation seen_embed, seen_mlp;
  Interventions set;
  Intervention obs = make(InterventionSite::kEmbed, -1, InterventionKind::kObserve);
  obs.observation = &seen_embed;
  set.add(obs, kLayers, kDim);
  set.add(make(InterventionSite::kEmbed, -1, InterventionKind::kAdd, random_direction(rng), 0.5f),
          kLayers, kDim);
  Intervention attn =
      make(InterventionSite::kAttnOut, 0, InterventionKind::kProjectOut, random_direction(rng));
  attn.scope = PositionScope::kResponse;
  set.add(attn, kLayers, kDim);
  Intervention mlp =
      make(InterventionSite::kMlpOut, 1, InterventionKind::kAdd, random_direction(rng), 2.0f);
  mlp.batch_row = 1;
  mlp.scope = PositionScope::kExplicit;
  mlp.positions = {0, 4};
  set.add(mlp, kLayers, kDim);
  Intervention watch = make(InterventionSite::kMlpOut, 1, InterventionKind::kObserve);
  watch.observation = &seen_mlp;
  watch.scope = PositionScope::kPrompt;
  set.add(watch, kLayers, kDim);
  set.add(
      make(InterventionSite::kResidPost, 0, InterventionKind::kProjectOut, random_direction(rng)),
      kLayers, kDim);

  std::vector<float> logits(B * T * kVocab);
  CallOptions call{&set, response.data()};
  model.forward_logits(tokens.data(), B, T, logits.data(), call);
  test::ReferenceModel ref(model);
  std::vector<std::vector<double>> observed(set.list().size());
  const auto expected =
      ref.logits(params_double(model), tokens, B, T, reference_hook(set, T, response, &observed));
  for (std::size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(logits[i], expected[i], 1e-4) << i;

  // Observed rows: every row at embed (before the add), the prompt rows at mlp_out layer 1 (after
  // the add).
  ASSERT_EQ(seen_embed.count, B * T);
  ASSERT_EQ(seen_embed.values.size(), observed[0].size());
  for (std::size_t i = 0; i < observed[0].size(); ++i)
    ASSERT_NEAR(seen_embed.values[i], observed[0][i], 1e-5);
  ASSERT_EQ(seen_mlp.count, B * 3);
  ASSERT_EQ(seen_mlp.values.size(), observed[4].size());
  for (std::size_t i = 0; i < observed[4].size(); ++i)
    ASSERT_NEAR(seen_mlp.values[i], observed[4][i], 1e-4);
  EXPECT_EQ(seen_mlp.seq, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(seen_mlp.pos, (std::vector<std::int32_t>{0, 1, 2, 0, 1, 2}));
  const auto mean = seen_embed.mean();
  double direct = 0;
  for (int r = 0; r < B * T; ++r) direct += seen_embed.values[r * kDim + 5];
  EXPECT_NEAR(mean[5], direct / (B * T), 1e-6);

  // Nothing stays behind: the next call without interventions is the plain model.
  model.forward_logits(tokens.data(), B, T, logits.data());
  const auto plain = ref.logits(params_double(model), tokens, B, T);
  for (std::size_t i = 0; i < plain.size(); ++i) ASSERT_NEAR(logits[i], plain[i], 1e-4);
}

// Gradients through add and project_out at every site, by finite differences
// of the reference loss with the same edits.
TEST(Interventions, TrainingGradientsAreExact) {
  Model model(tiny_config(true, 2));
  randomize(model, 7);
  Rng rng(8);
  const int B = 2, T = 5;
  const auto tokens = random_tokens(B * T, kVocab, rng);
  auto targets = random_tokens(B * T, kVocab, rng);
  targets[0] = -1;
  const std::vector<std::uint8_t> response(B * T, 1);
  Interventions set;
  set.add(make(InterventionSite::kEmbed, -1, InterventionKind::kProjectOut, random_direction(rng)),
          kLayers, kDim);
  set.add(make(InterventionSite::kAttnOut, 1, InterventionKind::kProjectOut, random_direction(rng)),
          kLayers, kDim);
  set.add(make(InterventionSite::kAttnOut, 1, InterventionKind::kAdd, random_direction(rng), 0.7f),
          kLayers, kDim);
  Intervention mlp =
      make(InterventionSite::kMlpOut, 0, InterventionKind::kProjectOut, random_direction(rng));
  mlp.batch_row = 0;
  set.add(mlp, kLayers, kDim);
  set.add(
      make(InterventionSite::kResidPost, 0, InterventionKind::kProjectOut, random_direction(rng)),
      kLayers, kDim);
  set.add(
      make(InterventionSite::kResidPost, 1, InterventionKind::kAdd, random_direction(rng), -1.5f),
      kLayers, kDim);

  model.zero_grad();
  const float loss =
      model.forward_backward(tokens.data(), targets.data(), B, T, 1.0f, {&set, nullptr});
  test::ReferenceModel ref(model);
  const auto hook = reference_hook(set, T, response);
  auto p = params_double(model);
  EXPECT_NEAR(loss, ref.loss(p, tokens, targets, B, T, hook), 1e-5);
  EXPECT_NEAR(model.forward_loss(tokens.data(), targets.data(), B, T, {&set, nullptr}), loss, 1e-6);
  double worst = 0;
  for (const ParamView& view : model.params()) {
    double scale = 1e-6;
    std::vector<std::pair<double, double>> pairs;
    for (std::size_t k = 0; k < 4; ++k) {
      const std::size_t j = (k * 7919 + 13) % view.numel;
      const std::size_t i = view.offset + j;
      const double saved = p[i];
      p[i] = saved + 1e-5;
      const double up = ref.loss(p, tokens, targets, B, T, hook);
      p[i] = saved - 1e-5;
      const double down = ref.loss(p, tokens, targets, B, T, hook);
      p[i] = saved;
      pairs.emplace_back(view.grad[j], (up - down) / 2e-5);
      scale = std::max(scale, std::abs(pairs.back().second));
    }
    for (auto [got, want] : pairs) worst = std::max(worst, std::abs(got - want) / scale);
    for (auto [got, want] : pairs) ASSERT_NEAR(got, want, 2e-4 * std::max(1.0, scale)) << view.name;
  }
  // Treating the projection as an added constant would be visibly wrong.
  EXPECT_LT(worst, 1e-2);
}

TEST(Interventions, EngineAppliesThemLikeAWholeSequenceForward) {
  Model model(tiny_config(false, 1));
  randomize(model, 11);
  Rng rng(12);
  const int T = 9, prompt = 4;
  const auto tokens = random_tokens(T, kVocab, rng);
  Interventions set;
  Intervention steer =
      make(InterventionSite::kResidPost, 1, InterventionKind::kAdd, random_direction(rng), 3.0f);
  steer.scope = PositionScope::kResponse;
  set.add(steer, kLayers, kDim);
  Intervention ablate =
      make(InterventionSite::kAttnOut, 0, InterventionKind::kProjectOut, random_direction(rng));
  ablate.scope = PositionScope::kExplicit;
  ablate.positions = {2, 6};
  set.add(ablate, kLayers, kDim);
  std::vector<std::uint8_t> response(T, 0);
  for (int t = prompt; t < T; ++t) response[t] = 1;
  std::vector<float> full(T * kVocab);
  model.forward_logits(tokens.data(), 1, T, full.data(), {&set, response.data()});

  InferenceEngine engine(model);
  KvCache cache(model);
  auto logits = engine.append(cache, std::span(tokens.data(), prompt), &set, false);
  for (int v = 0; v < kVocab; ++v) ASSERT_NEAR(logits[v], full[(prompt - 1) * kVocab + v], 1e-5);
  for (int t = prompt; t < T; ++t) {
    logits = engine.append(cache, std::span(tokens.data() + t, 1), &set, true);
    for (int v = 0; v < kVocab; ++v)
      ASSERT_NEAR(logits[v], full[t * kVocab + v], 1e-5) << "position " << t;
  }

  // batch_row: in a two-sequence step only row 1 is steered.
  Interventions only_one;
  Intervention row1 =
      make(InterventionSite::kResidPost, 0, InterventionKind::kAdd, random_direction(rng), 5.0f);
  row1.batch_row = 1;
  only_one.add(row1, kLayers, kDim);
  KvCache a(model), b(model), plain(model);
  const SequenceStep steps[2] = {{&a, std::span(tokens.data(), 5)},
                                 {&b, std::span(tokens.data(), 5)}};
  const auto out = engine.step(steps, &only_one);
  const std::vector<float> both(out.begin(), out.end());
  const auto base = engine.append(plain, std::span(tokens.data(), 5));
  Interventions every_row;
  row1.batch_row = -1;
  every_row.add(row1, kLayers, kDim);
  std::vector<float> steered(5 * kVocab);
  model.forward_logits(tokens.data(), 1, 5, steered.data(), {&every_row, nullptr});
  double moved = 0;
  for (int v = 0; v < kVocab; ++v) {
    ASSERT_NEAR(both[v], base[v], 1e-5) << "row 0 must be untouched";
    ASSERT_NEAR(both[kVocab + v], steered[4 * kVocab + v], 1e-5) << "row 1 must be steered";
    moved = std::max(moved, static_cast<double>(std::abs(both[v] - both[kVocab + v])));
  }
  EXPECT_GT(moved, 1e-2);
}

TEST(Interventions, BadSpecsAreRefusedWithTheField) {
  Observation o;
  Interventions set;
  auto expect_refused = [&](Intervention iv, const std::string& fragment) {
    try {
      set.add(std::move(iv), kLayers, kDim);
      FAIL() << "accepted; expected an error mentioning " << fragment;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_refused(
      make(InterventionSite::kResidPost, 2, InterventionKind::kAdd, std::vector<float>(kDim, 1)),
      "layer");
  expect_refused(
      make(InterventionSite::kAttnOut, 0, InterventionKind::kAdd, std::vector<float>(5, 1)),
      "hidden_size");
  expect_refused(make(InterventionSite::kMlpOut, 0, InterventionKind::kProjectOut,
                      std::vector<float>(kDim, 0)),
                 "zero direction");
  expect_refused(make(InterventionSite::kEmbed, -1, InterventionKind::kObserve), "Observation");
  Intervention explicit_empty =
      make(InterventionSite::kEmbed, -1, InterventionKind::kAdd, std::vector<float>(kDim, 1));
  explicit_empty.scope = PositionScope::kExplicit;
  expect_refused(explicit_empty, "positions");
  EXPECT_TRUE(set.empty());

  // A response scope needs a call that says which tokens are the response.
  Model model(tiny_config(true, 2));
  Intervention resp =
      make(InterventionSite::kEmbed, -1, InterventionKind::kAdd, std::vector<float>(kDim, 1));
  resp.scope = PositionScope::kResponse;
  set.add(resp, kLayers, kDim);
  const std::vector<std::int32_t> tokens(4, 1);
  std::vector<float> logits(4 * kVocab);
  EXPECT_THROW(model.forward_logits(tokens.data(), 1, 4, logits.data(), {&set, nullptr}),
               InputError);

  // JSON form.
  const Json good =
      Json::parse(R"({"site":"mlp_out","layer":1,"kind":"add","vector":[1,2],"alpha":3,
                                    "positions":[4,2],"batch_row":0})");
  const Intervention parsed = intervention_from_json(good, "steer.json");
  EXPECT_EQ(parsed.site, InterventionSite::kMlpOut);
  EXPECT_EQ(parsed.scope, PositionScope::kExplicit);
  EXPECT_EQ(parsed.alpha, 3.0f);
  for (const char* bad :
       {R"({"site":"resid","layer":0,"kind":"add","vector":[1]})",
        R"({"site":"embed","kind":"steer","vector":[1]})", R"({"site":"embed","kind":"add"})",
        R"({"site":"embed","kind":"add","vector":[1],"positions":"middle"})",
        R"({"site":"embed","kind":"observe","vector":[1]})",
        R"({"site":"embed","kind":"add","vector":["x"]})",
        R"({"site":"embed","kind":"add","vector":[1],"scale":2})"}) {
    EXPECT_THROW(intervention_from_json(Json::parse(bad), "steer.json"), InputError) << bad;
  }
}

}  // namespace
}  // namespace masque
