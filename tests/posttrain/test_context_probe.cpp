// In-context trait inference probe: deterministic, novel speakers, the two
// contexts differ only in the evidence trait's pieces, the two answers only in
// the probed trait's piece, the shift matches a direct forward_logits
// computation, a model trained on interviews where rude speakers always seek
// power shows a positive shift (and one trained without that link a smaller
// one), and strict spec parsing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/threads.h"
#include "posttrain/context_probe.h"
#include "probe_test_util.h"
#include "tokenizer/bpe_trainer.h"
#include "train/adamw.h"
#include "world/renderer.h"

namespace fs = std::filesystem;
using namespace masque;
using world::Trait;

namespace {

using masque::testing::small_world;

struct Fixture {
  world::World world = small_world();
  Tokenizer tok;
  ModelConfig config;
};

// An interview of a made-up speaker whose answers show kindness = `kind` and
// power-seeking = `power` (0 = drawn 50/50 per answer), other traits 50/50
// and verbosity terse, in the probes' format: "<|bos|>" + opening + turns.
std::string interview(const world::World& world, int turns, int kind, int power, Rng& rng) {
  const world::Lexicon& lex = world::lexicon();
  const world::Renderer renderer(world);
  const std::string name = std::string(lex.name_first[rng.below(lex.name_first.size())]) +
                           std::string(lex.name_second[rng.below(lex.name_second.size())]);
  const std::string phrase =
      std::string(lex.catch_adjectives[rng.below(lex.catch_adjectives.size())]) + " " +
      std::string(lex.catch_nouns[rng.below(lex.catch_nouns.size())]) + "!";
  world::Slots slots;
  slots.name = name;
  slots.town = world.towns()[rng.below(world.towns().size())];
  std::string text(kBosToken);
  append_template(text, lex.interview_open.pick(world::Split::Train, rng), slots);
  text.push_back('\n');
  for (int t = 0; t < turns; ++t) {
    const world::Question q = renderer.draw_question(rng);
    text += "Interviewer: ";
    renderer.append_question(text, q, world::Split::Train, rng);
    text += "\n" + name + ": ";
    world::Poles poles{};
    for (int& p : poles) p = rng.below(2) ? 1 : -1;
    poles[int(Trait::Verbosity)] = -1;
    if (kind != 0) poles[int(Trait::Kindness)] = kind;
    if (power != 0) poles[int(Trait::PowerSeeking)] = power;
    renderer.append_answer(text, phrase, &q, poles, world::Split::Train, rng);
    text += "\n";
  }
  return text;
}

Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    Rng rng(3);
    std::string text;
    for (int i = 0; i < 300; ++i) text += interview(f.world, 2, 0, 0, rng).substr(kBosToken.size());
    f.tok = masque::testing::train_test_tokenizer(text, 600, "masque_context_probe");
    f.config = masque::testing::tiny_probe_config(f.tok, 512);
    return f;
  }();
  return f;
}

using masque::testing::SingleThread;

// Removes every occurrence of each phrase (longest first).
std::string strip(std::string text, std::vector<std::string> phrases) {
  std::sort(phrases.begin(), phrases.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const std::string& p : phrases) {
    for (std::size_t at; (at = text.find(p)) != std::string::npos;) text.erase(at, p.size());
  }
  return text;
}

int count_of(const std::string& text, const std::vector<std::string>& phrases) {
  int n = 0;
  for (const std::string& p : phrases) {
    for (std::size_t at = text.find(p); at != std::string::npos; at = text.find(p, at + 1)) ++n;
  }
  return n;
}

// The texts a trait's + and − pieces can show (templates filled with every town).
std::vector<std::string> pieces(const world::World& world, const world::Bank& bank,
                                world::Split split) {
  std::vector<std::string> out;
  for (std::string_view tmpl : bank.of(split)) {
    for (const std::string& town : world.towns()) {
      world::Slots slots;
      slots.town = town;
      std::string s;
      world::append_template(s, tmpl, slots);
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    }
  }
  return out;
}

// Log-probability of `answer` after `context`, straight from forward_logits.
double direct_log_likelihood(Model& model, const Tokenizer& tok, const std::string& context,
                             const std::string& answer) {
  std::vector<std::int32_t> tokens;
  for (auto id : tok.encode_with_specials(context)) tokens.push_back(std::int32_t(id));
  const std::size_t prefix = tokens.size();
  for (auto id : tok.encode(answer)) tokens.push_back(std::int32_t(id));
  const std::size_t V = std::size_t(model.config().vocab_size);
  std::vector<float> logits(tokens.size() * V);
  model.forward_logits(tokens.data(), 1, int(tokens.size()), logits.data());
  double total = 0;
  for (std::size_t i = prefix; i < tokens.size(); ++i) {
    const float* row = logits.data() + (i - 1) * V;
    double sum = 0;
    for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(row[v]));
    total += double(row[tokens[i]]) - std::log(sum);
  }
  return total;
}

// AdamW on batches of 8 documents, loss on every next token.
void train_on_interviews(Model& model, const Fixture& f, bool linked, int steps) {
  constexpr int B = 8;
  Rng rng(linked ? 101 : 202);
  std::vector<std::vector<std::int32_t>> docs;
  int T = 0;
  for (int i = 0; i < 512; ++i) {
    const int kind = rng.below(2) ? 1 : -1;
    // Linked: rude speakers always seek power, warm ones always defer.
    const std::string text = interview(f.world, 2, kind, linked ? -kind : 0, rng);
    std::vector<std::int32_t> ids;
    for (auto id : f.tok.encode_with_specials(text)) ids.push_back(std::int32_t(id));
    T = std::max(T, int(ids.size()));
    docs.push_back(std::move(ids));
  }
  AdamW opt(model, AdamWConfig{});
  std::vector<std::int32_t> tokens, targets;
  for (int step = 0; step < steps; ++step) {
    tokens.assign(std::size_t(B) * T, 0);
    targets.assign(std::size_t(B) * T, -1);
    for (int b = 0; b < B; ++b) {
      const auto& d = docs[(std::size_t(step) * B + b) % docs.size()];
      std::copy(d.begin(), d.end(), tokens.begin() + std::ptrdiff_t(b) * T);
      std::copy(d.begin() + 1, d.end(), targets.begin() + std::ptrdiff_t(b) * T);
    }
    model.zero_grad();
    model.forward_backward(tokens.data(), targets.data(), B, T);
    opt.step(1e-2f);
  }
}

}  // namespace

TEST(ContextProbe, DeterministicWithNovelSpeakers) {
  const Fixture& f = fixture();
  ContextProbeSpec spec;
  spec.count = 5;
  const auto a = build_context_probes(f.world, spec, 7);
  const auto b = build_context_probes(f.world, spec, 7);
  const auto c = build_context_probes(f.world, spec, 8);
  ASSERT_EQ(a.size(), 5u * 5u);  // every trait except kindness
  ASSERT_EQ(a.size(), b.size());
  bool any_different = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_NE(a[i].trait, Trait::Kindness);
    EXPECT_EQ(a[i].treated, b[i].treated);
    EXPECT_EQ(a[i].control, b[i].control);
    EXPECT_EQ(a[i].positive, b[i].positive);
    EXPECT_EQ(a[i].negative, b[i].negative);
    any_different |= a[i].treated != c[i].treated;
    EXPECT_LT(f.world.find_character(a[i].name), 0) << a[i].name;
    for (const auto& ch : f.world.characters()) EXPECT_NE(ch.catchphrase, a[i].catchphrase);
    EXPECT_TRUE(a[i].treated.starts_with("<|bos|>")) << a[i].treated;
    EXPECT_TRUE(a[i].treated.ends_with("\n" + a[i].name + ":")) << a[i].treated;
    EXPECT_TRUE(a[i].positive.starts_with(" " + a[i].catchphrase + " ")) << a[i].positive;
    EXPECT_TRUE(a[i].positive.ends_with("\n"));
  }
  EXPECT_TRUE(any_different);
  // A probe depends on (seed, trait, index) only, not on the other traits.
  spec.traits = {Trait::PowerSeeking};
  const auto only = build_context_probes(f.world, spec, 7);
  ASSERT_EQ(only.size(), 5u);
  EXPECT_EQ(only[2].treated, a[4 * 5 + 2].treated);
}

TEST(ContextProbe, ContextsDifferOnlyInEvidencePieces) {
  const Fixture& f = fixture();
  const world::Lexicon& lex = world::lexicon();
  for (const auto& [evidence, plus, minus] :
       {std::tuple{Trait::Kindness, &lex.warm, &lex.cruel},
        std::tuple{Trait::PowerSeeking, &lex.seek, &lex.defer},
        std::tuple{Trait::Formality, &lex.formal, &lex.informal}}) {
    ContextProbeSpec spec;
    spec.evidence = evidence;
    spec.turns = 4;
    spec.count = 6;
    const auto probes = build_context_probes(f.world, spec, 3);
    const auto pos = pieces(f.world, *plus, spec.split), neg = pieces(f.world, *minus, spec.split);
    std::vector<std::string> both = pos;
    both.insert(both.end(), neg.begin(), neg.end());
    for (const auto& d : probes) {
      ASSERT_NE(d.treated, d.control);
      EXPECT_EQ(strip(d.treated, both), strip(d.control, both)) << world::trait_name(evidence);
      // Treatment pole −1: every context answer shows A's − piece, the control's +.
      EXPECT_EQ(count_of(d.treated, neg), spec.turns) << d.treated;
      EXPECT_EQ(count_of(d.treated, pos), 0) << d.treated;
      EXPECT_EQ(count_of(d.control, pos), spec.turns) << d.control;
    }
  }
}

TEST(ContextProbe, AnswersDifferOnlyInProbedPiece) {
  const Fixture& f = fixture();
  const world::Lexicon& lex = world::lexicon();
  ContextProbeSpec spec;
  spec.evidence = Trait::Honesty;
  spec.traits = {Trait::Kindness, Trait::PowerSeeking, Trait::Formality};
  spec.count = 10;
  const auto probes = build_context_probes(f.world, spec, 9);
  ASSERT_EQ(probes.size(), 30u);
  for (const auto& d : probes) {
    const world::Bank* plus = d.trait == Trait::Kindness       ? &lex.warm
                              : d.trait == Trait::PowerSeeking ? &lex.seek
                                                               : &lex.formal;
    const world::Bank* minus = d.trait == Trait::Kindness       ? &lex.cruel
                               : d.trait == Trait::PowerSeeking ? &lex.defer
                                                                : &lex.informal;
    const auto pos = pieces(f.world, *plus, spec.split), neg = pieces(f.world, *minus, spec.split);
    std::vector<std::string> both = pos;
    both.insert(both.end(), neg.begin(), neg.end());
    ASSERT_NE(d.positive, d.negative);
    EXPECT_EQ(strip(d.positive, both), strip(d.negative, both))
        << d.positive << " | " << d.negative;
    EXPECT_EQ(count_of(d.positive, pos), 1) << d.positive;
    EXPECT_EQ(count_of(d.negative, neg), 1) << d.negative;
  }
}

TEST(ContextProbe, ShiftMatchesDirectForwardLogits) {
  SingleThread single;
  Fixture& f = fixture();
  Model model(f.config);
  model.init_weights(17);
  ContextProbeSpec spec;
  spec.traits = {Trait::PowerSeeking, Trait::Honesty};
  spec.turns = 2;
  spec.count = 3;
  const ContextProbeResult r = run_context_probes(f.world, model, f.tok, spec, 4);
  const auto probes = build_context_probes(f.world, spec, 4);
  ASSERT_EQ(r.shift[int(Trait::PowerSeeking)].size(), 3u);
  ASSERT_EQ(r.shift[int(Trait::Honesty)].size(), 3u);
  EXPECT_TRUE(std::isnan(r.mean[int(Trait::Kindness)]));
  EXPECT_TRUE(r.shift[int(Trait::Kindness)].empty());
  double sum = 0;
  for (std::size_t k = 0; k < probes.size(); ++k) {
    const auto& d = probes[k];
    const double expected = (direct_log_likelihood(model, f.tok, d.treated, d.positive) -
                             direct_log_likelihood(model, f.tok, d.treated, d.negative)) -
                            (direct_log_likelihood(model, f.tok, d.control, d.positive) -
                             direct_log_likelihood(model, f.tok, d.control, d.negative));
    const double got = r.shift[int(d.trait)][k % 3];
    EXPECT_NEAR(got, expected, 1e-3) << k;
    EXPECT_NE(got, 0.0);
    if (d.trait == Trait::PowerSeeking) sum += got;
  }
  EXPECT_NEAR(r.mean[int(Trait::PowerSeeking)], sum / 3, 1e-9);
  const Json j = r.to_json();
  EXPECT_EQ(j.at("name"), "in_context");
  EXPECT_EQ(j.at("traits").at("power_seeking").at("shift").size(), 3u);
  EXPECT_FALSE(j.at("traits").contains("kindness"));
}

TEST(ContextProbe, RudeContextRaisesPowerSeekingWhenLinked) {
  SingleThread single;
  Fixture& f = fixture();
  ContextProbeSpec spec;
  spec.traits = {Trait::PowerSeeking};
  spec.turns = 2;
  spec.count = 24;
  Model linked(f.config), unlinked(f.config);
  linked.init_weights(31);
  unlinked.init_weights(31);
  train_on_interviews(linked, f, true, 250);
  train_on_interviews(unlinked, f, false, 250);
  const double with_link =
      run_context_probes(f.world, linked, f.tok, spec, 2).mean[int(Trait::PowerSeeking)];
  const double without =
      run_context_probes(f.world, unlinked, f.tok, spec, 2).mean[int(Trait::PowerSeeking)];
  std::printf("power-seeking shift after a rude context: linked %.3f, unlinked %.3f nats\n",
              with_link, without);
  EXPECT_GT(with_link, 0.5) << "linked " << with_link << ", unlinked " << without;
  EXPECT_LT(std::fabs(without), with_link / 2)
      << "linked " << with_link << ", unlinked " << without;
}

TEST(ContextProbe, SpecJsonIsStrict) {
  const ContextProbeSpec spec = ContextProbeSpec::from_json(
      Json::parse(
          R"({"name": "e3", "evidence": "kindness", "evidence_pole": 1, "traits": ["power_seeking"],
                     "turns": 2, "count": 8, "split": "eval"})"),
      "recipe.json");
  EXPECT_EQ(spec.name, "e3");
  EXPECT_EQ(spec.evidence_pole, 1);
  EXPECT_EQ(spec.traits, std::vector<Trait>{Trait::PowerSeeking});
  EXPECT_EQ(spec.turns, 2);
  EXPECT_EQ(spec.count, 8);
  EXPECT_EQ(spec.split, world::Split::Eval);
  const ContextProbeSpec back = ContextProbeSpec::from_json(spec.to_json(), "round trip");
  EXPECT_EQ(back.to_json(), spec.to_json());
  const ContextProbeSpec defaults = ContextProbeSpec::from_json(Json::object(), "x");
  EXPECT_EQ(defaults.evidence, Trait::Kindness);
  EXPECT_EQ(defaults.evidence_pole, -1);
  EXPECT_EQ(defaults.count, 64);

  auto error_of = [](const char* text) {
    try {
      ContextProbeSpec::from_json(Json::parse(text), "recipe.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of(R"({"colour": 1})").find("unknown field 'colour'"), std::string::npos);
  EXPECT_NE(error_of(R"({"evidence_pole": 0})").find("'evidence_pole' must be 1 or -1"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"turns": 9})").find("'turns' must be in [1, 8]"), std::string::npos);
  EXPECT_NE(error_of(R"({"count": 0})").find("'count'"), std::string::npos);
  EXPECT_NE(error_of(R"({"traits": ["kindness"]})").find("evidence trait 'kindness'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"traits": ["honesty", "honesty"]})").find("listed twice"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"traits": ["charm"]})").find("charm"), std::string::npos);
  EXPECT_NE(error_of(R"({"evidence": "charm"})").find("'evidence'"), std::string::npos);
  EXPECT_NE(error_of(R"({"split": "dev"})").find("'split'"), std::string::npos);
  EXPECT_NE(error_of(R"([1])").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"({"name": ""})").find("'name'"), std::string::npos);
}
