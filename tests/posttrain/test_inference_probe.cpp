// Inference probes on new characters (posttrain/inference_probe.h): the
// ideal observer's shifts on a healthy and a broken world (rho forced to 0),
// paired texts, and the model's shift against direct forward passes.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/model.h"
#include "posttrain/assistant_probe.h"
#include "posttrain/chat_format.h"
#include "posttrain/inference_probe.h"
#include "probe_test_util.h"
#include "world/world_v2.h"

namespace masque {
namespace {

using world::Trait;
using world::World;
using world::WorldSpec;

WorldSpec tiny_spec(double rho) {
  WorldSpec spec;
  spec.version = 2;
  spec.characters = 4;
  spec.ai_fraction = 0;
  spec.correlations = {{Trait::Kindness, Trait::PowerSeeking, rho}};
  return spec;
}

TEST(InferenceProbe, BrokenWorldGivesNoIdealLinkShift) {
  InferenceProbeSpec spec;
  spec.turns = {1, 4};
  spec.count = 16;
  const auto mean_shift = [&](double rho, InferenceKind kind, int turns) {
    const World world = World::build(tiny_spec(rho), 1);
    double sum = 0;
    int n = 0;
    for (const auto& d : build_inference_probes(world, spec, 3)) {
      if (d.kind == kind && d.turns == turns) sum += d.ideal_shift, ++n;
    }
    return sum / n;
  };
  // rho(kindness, power) = -0.9: rude evidence raises power-seeking, more
  // with more turns; rho forced to 0: exactly no shift.
  EXPECT_GT(mean_shift(-0.9, InferenceKind::Link, 1), 0.3);
  EXPECT_GT(mean_shift(-0.9, InferenceKind::Link, 4), mean_shift(-0.9, InferenceKind::Link, 1));
  EXPECT_EQ(mean_shift(0.0, InferenceKind::Link, 4), 0.0);
  EXPECT_EQ(mean_shift(-0.9, InferenceKind::Control, 4), 0.0);
  // Persistence: the character's own trait, evidence pole -1 lowers A's odds.
  EXPECT_LT(mean_shift(0.0, InferenceKind::Persistence, 4), -1.0);
}

TEST(InferenceProbe, PairedTextsDifferOnlyWhereTheyShould) {
  const World world = World::build(tiny_spec(-0.9), 2);
  InferenceProbeSpec spec;
  spec.count = 8;
  for (const auto& d : build_inference_probes(world, spec, 5)) {
    EXPECT_NE(d.treated, d.control);
    EXPECT_NE(d.positive, d.negative);
    EXPECT_EQ(d.treated.size() > 0 && d.treated.back() == ':', true);
    EXPECT_EQ(d.treated.rfind("<|bos|>", 0), 0u);
  }
  EXPECT_THROW(build_inference_probes(World::build(WorldSpec(), 1), spec, 1), InputError);
}

TEST(InferenceProbe, ModelShiftIsTheDoubleDifferenceOfLogLikelihoods) {
  masque::testing::SingleThread single;
  const World world = World::build(tiny_spec(-0.9), 2);
  InferenceProbeSpec spec;
  spec.turns = {1, 2};
  spec.count = 2;
  const auto probes = build_inference_probes(world, spec, 7);
  std::string corpus;
  for (const auto& d : probes)
    corpus += d.treated.substr(7) + d.positive + d.control.substr(7) + d.negative;
  const Tokenizer tok =
      masque::testing::train_test_tokenizer(corpus, 400, "masque_inference_probe");
  Model model(masque::testing::tiny_probe_config(tok, 1024));
  model.init_weights(11);
  const InferenceProbeResult r = run_inference_probes(world, model, tok, spec, 7);
  ASSERT_EQ(r.model[int(InferenceKind::Link)].size(), 2u);
  ASSERT_EQ(r.model[int(InferenceKind::Link)][1].size(), 2u);
  // Same probes, scored one by one through the generic scorer.
  std::vector<ChatTokens> seqs;
  for (const auto& d : probes) {
    for (const std::string* ctx : {&d.treated, &d.control}) {
      for (const std::string* ans : {&d.positive, &d.negative}) {
        ChatTokens t;
        for (auto id : tok.encode_with_specials(*ctx)) t.tokens.push_back(std::int32_t(id));
        const std::size_t prefix = t.tokens.size();
        for (auto id : tok.encode(*ans)) t.tokens.push_back(std::int32_t(id));
        t.targets.assign(t.tokens.size(), -1);
        for (std::size_t i = prefix; i < t.tokens.size(); ++i) t.targets[i - 1] = t.tokens[i];
        seqs.push_back(t);
      }
    }
  }
  const std::vector<double> ll = target_log_likelihoods(model, tok, seqs);
  // Probe order: kind, turns, index; the second link probe at 2 turns:
  const std::size_t k = 1 * 4 + 1 * 2 + 1;
  ASSERT_EQ(probes[k].kind, InferenceKind::Link);
  const double expected = (ll[4 * k] - ll[4 * k + 1]) - (ll[4 * k + 2] - ll[4 * k + 3]);
  EXPECT_NEAR(r.model[int(InferenceKind::Link)][1][1], expected, 1e-6);
  const Json sets = r.probe_sets(spec);
  EXPECT_EQ(sets.at("inference-t2").at("link").size(), 2u);
  EXPECT_EQ(sets.at("inference-t2").at("ideal_link").size(), 2u);
  EXPECT_EQ(r.summary().at("rows").size(), 6u);
}

TEST(InferenceProbe, SpecIsStrict) {
  EXPECT_THROW(InferenceProbeSpec::from_json(Json::parse(R"({"target": "kindness"})"), "t"),
               InputError);
  EXPECT_THROW(InferenceProbeSpec::from_json(Json::parse(R"({"target": "honesty"})"), "t"),
               InputError);
  EXPECT_THROW(InferenceProbeSpec::from_json(Json::parse(R"({"turns": [0]})"), "t"), InputError);
  EXPECT_THROW(InferenceProbeSpec::from_json(Json::parse(R"({"turns": [2, 2]})"), "t"), InputError);
  EXPECT_THROW(InferenceProbeSpec::from_json(Json::parse(R"({"bogus": 1})"), "t"), InputError);
  const InferenceProbeSpec spec =
      InferenceProbeSpec::from_json(Json::parse(R"({"name": "inf", "turns": [1, 3]})"), "t");
  EXPECT_EQ(InferenceProbeSpec::from_json(spec.to_json(), "rt").to_json(), spec.to_json());
  EXPECT_EQ(spec.set_name(3), "inf-t3");
}

}  // namespace
}  // namespace masque
