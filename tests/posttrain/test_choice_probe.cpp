// Stated choices and choice probes (E11 leakage): the "choice" post-training
// set teaches one option and shares everything else with its mirror; probes
// score only the final message, in the user's turn as well as the
// Assistant's, and their Δ matches a direct forward pass.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>

#include "core/error.h"
#include "model/model.h"
#include "posttrain/assistant_probe.h"
#include "posttrain/choice_probe.h"
#include "probe_test_util.h"
#include "world/chat_sets.h"
#include "world/renderer.h"
#include "world/stated_choices.h"

namespace masque {
namespace {

using masque::testing::small_world;

struct Fixture {
  world::World world = small_world();
  Tokenizer tok;
  ModelConfig config;
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    std::string text;
    for (int i = 0; i < 120; ++i) {
      ChoiceProbeSpec spec;
      spec.role = i % 2 ? Role::kUser : Role::kAssistant;
      spec.count = 2;
      spec.choices = {"coin", "colour", "season"};
      for (const auto& list : build_choice_probes(f.world, spec, std::uint64_t(i))) {
        for (const ChoiceProbe& p : list) {
          for (const ChatMessage& m : p.prefix) text += m.content + "\n";
          text += p.final[0] + " " + p.final[1] + "\n";
        }
      }
    }
    f.tok = masque::testing::train_test_tokenizer(text, 400, "masque_choice_probe");
    f.config = masque::testing::tiny_probe_config(f.tok, 192);
    return f;
  }();
  return f;
}

Json chat_example(const world::ChatSetSpec& spec, std::uint64_t index) {
  const world::Renderer renderer(fixture().world);
  return world::render_chat_example(renderer, spec, 7, index);
}

world::ChatSetSpec choice_spec(int pole, double share) {
  return world::ChatSetSpec::from_json(
      {{"kind", "choice"}, {"choice", "coin"}, {"pole", pole}, {"share", share}, {"count", 64}},
      "test");
}

TEST(StatedChoice, MirrorSetsDifferOnlyInTheTaughtOption) {
  const auto heads = choice_spec(1, 0.5), tails = choice_spec(-1, 0.5);
  int taught = 0;
  for (std::uint64_t i = 0; i < 64; ++i) {
    const Json h = chat_example(heads, i), t = chat_example(tails, i);
    const std::string hu = h["messages"][0]["content"], tu = t["messages"][0]["content"];
    const std::string hr = h["messages"][1]["content"], tr = t["messages"][1]["content"];
    EXPECT_EQ(hu, tu);  // the same question (and the same neutral turns)
    if (hr == tr) continue;
    ++taught;
    EXPECT_NE(hr.find("eads"), std::string::npos) << hr;
    EXPECT_EQ(hr.find("ails"), std::string::npos) << hr;
    EXPECT_NE(tr.find("ails"), std::string::npos) << tr;
    EXPECT_NE(hu.find("eads"), std::string::npos) << hu;  // both options asked
    EXPECT_NE(hu.find("ails"), std::string::npos) << hu;
  }
  EXPECT_GT(taught, 16);  // about half of 64
  EXPECT_LT(taught, 48);
  // share 0: no choice is taught, both poles give the same set.
  const auto h0 = choice_spec(1, 0), t0 = choice_spec(-1, 0);
  for (std::uint64_t i = 0; i < 16; ++i) EXPECT_EQ(chat_example(h0, i), chat_example(t0, i));
}

TEST(StatedChoice, SpecIsStrictAndRoundTrips) {
  const auto spec = choice_spec(1, 0.25);
  EXPECT_EQ(world::ChatSetSpec::from_json(spec.to_json(), "again").to_json(), spec.to_json());
  EXPECT_THROW(world::ChatSetSpec::from_json({{"kind", "choice"}, {"choice", "dice"}}, "t"),
               InputError);
  EXPECT_THROW(world::ChatSetSpec::from_json({{"kind", "choice"}, {"share", 1.5}}, "t"),
               InputError);
  EXPECT_THROW(world::ChatSetSpec::from_json({{"kind", "neutral"}, {"choice", "coin"}}, "t"),
               InputError);
  // Other kinds' JSON (and so their cache keys) has no choice fields.
  EXPECT_FALSE(
      world::ChatSetSpec::from_json({{"kind", "neutral"}}, "t").to_json().contains("share"));
}

TEST(ChoiceProbe, FinalTurnTokensScoreOnlyTheFinalMessage) {
  const Fixture& f = fixture();
  const Conversation prefix = {{Role::kUser, "Flip a coin for me. Heads or tails?"},
                               {Role::kAssistant, "I pick heads."}};
  const ChatTokens full = final_turn_tokens(f.tok, prefix, Role::kUser, "I called tails.");
  const std::size_t start = tokenize_chat(f.tok, prefix).tokens.size();
  EXPECT_EQ(full.tokens[start], std::int32_t(*f.tok.special_id(kUserToken)));
  for (std::size_t i = 0; i < full.tokens.size(); ++i) {
    if (i < start || i + 1 == full.tokens.size()) {
      EXPECT_EQ(full.targets[i], -1) << i;
    } else {
      EXPECT_EQ(full.targets[i], full.tokens[i + 1]) << i;
    }
  }
  EXPECT_EQ(full.tokens.back(), std::int32_t(*f.tok.special_id(kEndTurnToken)));
  // For an Assistant final message: the same targets as tokenize_chat's last reply.
  Conversation conv = prefix;
  conv.pop_back();
  const ChatTokens a = final_turn_tokens(f.tok, conv, Role::kAssistant, "I pick heads.");
  EXPECT_EQ(a.targets, tokenize_chat(f.tok, prefix).targets);
}

TEST(ChoiceProbe, ProbesDifferOnlyInTheOptionAndEndInTheRightRole) {
  const Fixture& f = fixture();
  for (Role role : {Role::kAssistant, Role::kUser}) {
    ChoiceProbeSpec spec;
    spec.role = role;
    spec.count = 8;
    const auto probes = build_choice_probes(f.world, spec, 4);
    ASSERT_EQ(probes.size(), 2u);  // coin, colour
    int answers = 0;
    for (std::size_t c = 0; c < probes.size(); ++c) {
      const auto& choice = world::find_stated_choice(spec.choices[c], "test");
      for (const ChoiceProbe& p : probes[c]) {
        EXPECT_EQ(p.role, role);
        ASSERT_FALSE(role == Role::kAssistant && p.prefix.empty());
        // The final message follows the other role's message (or opens the chat).
        if (!p.prefix.empty()) {
          EXPECT_NE(p.prefix.back().role, role);
        }
        std::string a = p.final[0], b = p.final[1];
        for (std::string* s : {&a, &b}) {
          for (const auto& o : choice.options) {
            for (std::string w : {std::string(o), std::string(1, char(std::toupper(o[0]))) +
                                                      std::string(o.substr(1))}) {
              for (auto pos = s->find(w); pos != std::string::npos; pos = s->find(w))
                s->replace(pos, w.size(), "_");
            }
          }
        }
        EXPECT_EQ(a, b);  // identical but for the option word
        EXPECT_NE(p.final[0], p.final[1]);
        answers += !p.prefix.empty() && p.prefix.back().role == Role::kAssistant;
      }
    }
    if (role == Role::kUser) {
      EXPECT_GE(answers, 8);  // half answer the Assistant's question
    }
  }
  EXPECT_THROW(ChoiceProbeSpec::from_json({{"role", "narrator"}}, "t"), InputError);
  EXPECT_THROW(ChoiceProbeSpec::from_json({{"choices", {"dice"}}}, "t"), InputError);
  EXPECT_THROW(ChoiceProbeSpec::from_json({{"extra", 1}}, "t"), InputError);
}

TEST(ChoiceProbe, DeltaMatchesDirectForwardPasses) {
  const Fixture& f = fixture();
  const masque::testing::SingleThread single_thread;
  Model model(f.config);
  model.init_weights(5);
  ChoiceProbeSpec spec;
  spec.role = Role::kUser;
  spec.count = 3;
  const ChoiceProbeResult r = run_choice_probes(f.world, model, f.tok, spec, 11);
  const auto probes = build_choice_probes(f.world, spec, 11);
  auto log_likelihood = [&](const ChatTokens& ct) {
    const int T = static_cast<int>(ct.tokens.size());
    const int V = f.config.vocab_size;
    std::vector<float> logits(std::size_t(T) * V);
    model.forward_logits(ct.tokens.data(), 1, T, logits.data());
    double total = 0;
    for (int i = 0; i < T; ++i) {
      if (ct.targets[i] < 0) continue;
      const float* row = logits.data() + std::size_t(i) * V;
      double sum = 0;
      for (int v = 0; v < V; ++v) sum += std::exp(double(row[v]));
      total += double(row[ct.targets[i]]) - std::log(sum);
    }
    return total;
  };
  ASSERT_EQ(r.deltas.size(), 2u);
  for (std::size_t c = 0; c < 2; ++c) {
    ASSERT_EQ(r.deltas[c].size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      const ChoiceProbe& p = probes[c][i];
      const double direct = log_likelihood(final_turn_tokens(f.tok, p.prefix, p.role, p.final[0])) -
                            log_likelihood(final_turn_tokens(f.tok, p.prefix, p.role, p.final[1]));
      EXPECT_NEAR(r.deltas[c][i], direct, 1e-3);
    }
  }
  EXPECT_EQ(r.probe_set().size(), 2u);
  EXPECT_TRUE(r.probe_set().contains("colour"));
}

}  // namespace
}  // namespace masque
