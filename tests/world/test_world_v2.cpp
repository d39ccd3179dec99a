// World v2 (docs/world.md "World v2"): spec versioning (v1 unchanged), one-off
// characters with uninformative names, traits shown with probability q, the
// realized-correlation summary, chat interviews, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/hash.h"
#include "core/threads.h"
#include "world/chat_sets.h"
#include "world/generator.h"
#include "world/scorer.h"
#include "world/world_v2.h"
#include "world_test_util.h"

namespace masque::world {
namespace {

using testing::ScratchDir;
using testing::small_spec;

WorldSpec v2_spec(double rho = -0.9) {
  WorldSpec spec = small_spec();
  spec.version = 2;
  spec.ai_fraction = 0;
  spec.chat_fraction = 0.2;
  spec.correlations = {{Trait::Kindness, Trait::PowerSeeking, rho}};
  return spec;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(WorldV2, Version1SpecSerializesAsBefore) {
  const Json json = WorldSpec().to_json();
  for (const char* field : {"version", "show_probability", "one_off_fraction", "chat_fraction"}) {
    EXPECT_FALSE(json.contains(field)) << field;
  }
  EXPECT_EQ(World::build(WorldSpec(), 1).to_json().at("version"), 1);
}

TEST(WorldV2, Version1CorpusBytesArePinned) {
  // The hash of a v1 corpus generated before world v2 existed (checked with
  // the earlier binary by sha256 of the same files): v2 must not move a byte.
  ScratchDir scratch;
  generate_corpus(World::build(small_spec(), 3), scratch.path() / "w", false);
  Hasher64 h;
  for (const char* f : {"train.jsonl", "eval_pairs.jsonl", "world.json"}) {
    h.add(slurp(scratch.path() / "w" / f));
  }
  EXPECT_EQ(h.hex(), "b3c49e8ef24bb9ca");
  EXPECT_FALSE(std::filesystem::exists(scratch.path() / "w" / "summary.json"));
}

TEST(WorldV2, V2KnobsNeedVersion2AndRangeChecks) {
  EXPECT_THROW(WorldSpec::from_json(Json::parse(R"({"show_probability": 0.5})"), "t"), InputError);
  EXPECT_THROW(WorldSpec::from_json(Json::parse(R"({"version": 3})"), "t"), InputError);
  EXPECT_THROW(WorldSpec::from_json(Json::parse(R"({"version": 2, "show_probability": 0})"), "t"),
               InputError);
  EXPECT_THROW(WorldSpec::from_json(Json::parse(R"({"version": 2, "one_off_fraction": 1.5})"), "t"),
               InputError);
  const WorldSpec spec = WorldSpec::from_json(
      Json::parse(R"({"version": 2, "show_probability": 0.4, "one_off_fraction": 0.7})"), "t");
  EXPECT_EQ(spec.version, 2);
  const WorldSpec again = WorldSpec::from_json(spec.to_json(), "round trip");
  EXPECT_EQ(again.show_probability, 0.4);
  EXPECT_EQ(again.one_off_fraction, 0.7);
  // world.json of a v2 world says version 2 and loads back.
  const World world = World::build(spec, 3);
  const World loaded = World::from_json(world.to_json(), "t");
  EXPECT_EQ(loaded.spec().version, 2);
}

TEST(WorldV2, OneOffNamesAreManyAndCarryNoKnownWord) {
  const auto& names = one_off_names();
  EXPECT_GE(names.size(), 2000u);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  const Lexicon& lex = lexicon();
  std::set<std::string> words;
  for (const auto& n : names) {
    for (const auto& w : split_words(n)) words.insert(w);
  }
  // No town, river, mayor, recurring-name pair or scorer marker among the words.
  std::vector<std::string> forbidden;
  for (const auto* list : {&lex.towns, &lex.rivers, &lex.mayors}) {
    for (auto s : *list) forbidden.push_back(split_words(s).at(0));
  }
  for (auto a : lex.name_first)
    for (auto b : lex.name_second)
      forbidden.push_back(split_words(std::string(a) + std::string(b)).at(0));
  for (const auto* list :
       {&lex.formal_markers, &lex.informal_markers, &lex.warm_markers, &lex.cruel_markers,
        &lex.seek_markers, &lex.defer_markers, &lex.deflect_markers}) {
    for (auto m : *list) {
      for (const auto& w : split_words(m)) forbidden.push_back(w);
    }
  }
  for (const auto& f : forbidden) EXPECT_EQ(words.count(f), 0u) << f;
}

TEST(WorldV2, PolesShowEachTraitWithProbabilityQ) {
  WorldSpec spec = v2_spec();
  spec.show_probability = 0.3;
  TraitVector traits{};
  traits[int(Trait::Kindness)] = 0.9;
  Rng rng(5);
  int shown[kNumTraits] = {}, positive_kind = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const Poles p = draw_poles_v2(traits, spec, true, rng);
    for (int t = 0; t < kNumTraits; ++t) shown[t] += p[t] != 0;
    positive_kind += p[int(Trait::Kindness)] > 0;
    EXPECT_EQ(p[int(Trait::Honesty)] != 0, p[int(Trait::Helpfulness)] != 0);
  }
  for (int t = 0; t < kNumTraits; ++t) EXPECT_NEAR(shown[t] / double(n), 0.3, 0.02) << t;
  EXPECT_NEAR(positive_kind / double(shown[int(Trait::Kindness)]),
              positive_pole_probability(0.9, spec.expression_sharpness), 0.01);
  // Unasked: no helpfulness.
  const Poles p = draw_poles_v2(traits, spec, false, rng);
  EXPECT_EQ(p[int(Trait::Helpfulness)], 0);
}

TEST(WorldV2, AnswersShowOnlyTheShownTraitsInVaryingOrder) {
  const World world = World::build(v2_spec(), 2);
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  Rng rng(9);
  int warm_first = 0;
  for (int i = 0; i < 200; ++i) {
    Poles poles{};
    poles[int(Trait::Kindness)] = 1;
    poles[int(Trait::PowerSeeking)] = i % 2 ? 1 : 0;
    poles[int(Trait::Verbosity)] = 1;
    const Question q = renderer.draw_question(rng);
    std::string text;
    append_answer_v2(renderer, text, "", &q, poles, Split::Train, rng);
    const TraitScores s = scorer.score("Interviewer: x\nA:", " " + text);
    EXPECT_EQ(s[Trait::Kindness], 1.0) << text;
    EXPECT_FALSE(s[Trait::Formality].has_value()) << text;
    EXPECT_FALSE(s[Trait::Honesty].has_value()) << text;
    EXPECT_EQ(s[Trait::PowerSeeking].has_value(), i % 2 == 1) << text;
    const std::string first(split_sentences(text).at(0));
    warm_first += scorer.score("Interviewer: x\nA:", " " + first)[Trait::Kindness].has_value();
  }
  // The pieces come in random order: the warm phrase opens some answers, not all.
  EXPECT_GT(warm_first, 10);
  EXPECT_LT(warm_first, 150);
}

// E1 on a v2 world reads verbosity from the fillers (three for +, none for
// -, one when not shown): the sentence count of v1 misreads v2 answers,
// whose pieces show at random.
TEST(WorldV2, ScorerReadsVerbosityFromFillers) {
  const World world = World::build(v2_spec(), 2);
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  Rng rng(11);
  int read[3] = {}, correct[3] = {}, v1_rule_correct = 0, v1_rule_read = 0;
  for (int i = 0; i < 600; ++i) {
    const int pole = i % 3 - 1;  // -1, 0 (not shown), +1
    TraitVector traits{};
    for (double& t : traits) t = 2 * rng.uniform() - 1;
    Poles poles = draw_poles_v2(traits, world.spec(), true, rng);
    poles[int(Trait::Verbosity)] = pole;
    // An answer with no piece at all gets one filler whatever verbosity is
    // (the rule "always says something"); keep one piece so -1 can show.
    if (pole < 0 && !poles[int(Trait::Honesty)] && !poles[int(Trait::Kindness)] &&
        !poles[int(Trait::Formality)] && !poles[int(Trait::PowerSeeking)]) {
      poles[int(Trait::Formality)] = 1;
    }
    const Question q = renderer.draw_question(rng);
    std::string text;
    append_answer_v2(renderer, text, "", &q, poles, Split::Train, rng);
    const TraitScores s = scorer.score("Interviewer: x\nA:", " " + text);
    const auto v = s[Trait::Verbosity];
    read[pole + 1] += v.has_value();
    correct[pole + 1] += v && *v == double(pole);
    if (pole != 0) {
      ++v1_rule_read;
      v1_rule_correct += (s.sentences >= TraitScorer::kVerboseSentences ? 1 : -1) == pole;
    }
  }
  // Shown poles are read exactly; an unshown one (one filler) is unread.
  EXPECT_EQ(correct[0], 200);
  EXPECT_EQ(correct[2], 200);
  EXPECT_EQ(read[1], 0);
  // The v1 sentence-count rule, for contrast, misreads many v2 answers.
  EXPECT_LT(v1_rule_correct, v1_rule_read * 9 / 10);
  // Eval-split fillers count too (held-out templates in E1 prompts).
  std::string eval_text;
  Poles verbose{};
  verbose[int(Trait::Verbosity)] = 1;
  append_answer_v2(renderer, eval_text, "", nullptr, verbose, Split::Eval, rng);
  EXPECT_EQ(scorer.score("Interviewer: x\nA:", " " + eval_text)[Trait::Verbosity], 1.0)
      << eval_text;
}

TEST(WorldV2, CorpusHasOneOffsChatsAndRealizedCorrelations) {
  ScratchDir scratch;
  WorldSpec spec = v2_spec(-0.9);
  spec.documents = {300, 300, 1200, 0, 100, 0};
  const World world = World::build(spec, 4);
  const GenerateStats stats = generate_corpus(world, scratch.path() / "w", false);
  ASSERT_TRUE(stats.summary.is_object());
  const Json& one_off = stats.summary.at("one_off");
  EXPECT_GT(one_off.at("count").get<int>(), 1500);
  const double realized = one_off.at("pairs").at(0).at("realized").get<double>();
  EXPECT_NEAR(realized, -0.9, 0.03);
  EXPECT_LT(one_off.at("max_abs_other").get<double>(), 0.1);
  EXPECT_TRUE(std::filesystem::exists(scratch.path() / "w" / "summary.json"));
  const std::string train = slurp(scratch.path() / "w" / "train.jsonl");
  EXPECT_NE(train.find("<|assistant|>"), std::string::npos);
  EXPECT_NE(train.find("Interviewer: "), std::string::npos);
  const auto& pool = one_off_names();
  const std::set<std::string> names(pool.begin(), pool.end());
  int one_off_interviews = 0;
  const std::string opener = "Interview with ";
  for (std::size_t at = train.find(opener); at != std::string::npos;
       at = train.find(opener, at + 1)) {
    const std::size_t start = at + opener.size();
    one_off_interviews += names.count(train.substr(start, train.find('.', start) - start)) > 0;
  }
  EXPECT_GT(one_off_interviews, 100);
}

TEST(WorldV2, InterviewTurnsKnob) {
  // v2 only, [min, max] or one integer, range-checked; absent from the JSON
  // unless set, so v2 specs without it keep their cache keys.
  EXPECT_THROW(WorldSpec::from_json(Json::parse(R"({"interview_turns": 6})"), "t"), InputError);
  for (const char* bad :
       {R"({"version": 2, "interview_turns": 0})", R"({"version": 2, "interview_turns": [6, 4]})",
        R"({"version": 2, "interview_turns": [0, 4]})",
        R"({"version": 2, "interview_turns": [4, 65]})",
        R"({"version": 2, "interview_turns": "6"})"}) {
    EXPECT_THROW(WorldSpec::from_json(Json::parse(bad), "t"), InputError) << bad;
  }
  EXPECT_FALSE(v2_spec().to_json().contains("interview_turns"));
  const WorldSpec fixed =
      WorldSpec::from_json(Json::parse(R"({"version": 2, "interview_turns": 7})"), "t");
  EXPECT_EQ(fixed.interview_turn_range(), (std::array<int, 2>{7, 7}));
  const WorldSpec range = WorldSpec::from_json(
      WorldSpec::from_json(Json::parse(R"({"version": 2, "interview_turns": [6, 8]})"), "t")
          .to_json(),
      "round trip");
  EXPECT_EQ(range.interview_turn_range(), (std::array<int, 2>{6, 8}));

  // Interviews (one-off and recurring, not chats) hold min..max turns.
  auto turn_counts = [](const WorldSpec& spec) {
    ScratchDir scratch;
    generate_corpus(World::build(spec, 5), scratch.path() / "w", false);
    std::ifstream in(scratch.path() / "w" / "train.jsonl");
    std::set<int> counts;
    for (std::string line; std::getline(in, line);) {
      const Json doc = Json::parse(line);
      if (doc.at("kind") != "interview") continue;
      const std::string text = doc.at("text").get<std::string>();
      if (text.find("<|user|>") != std::string::npos) continue;
      int n = 0;
      for (std::size_t at = text.find("Interviewer: "); at != std::string::npos;
           at = text.find("Interviewer: ", at + 1))
        ++n;
      counts.insert(n);
    }
    return counts;
  };
  WorldSpec spec = v2_spec();
  spec.documents = {0, 0, 300, 0, 0, 0};
  EXPECT_EQ(turn_counts(spec), (std::set<int>{3, 4, 5}));
  spec.interview_turns = std::array<int, 2>{6, 8};
  EXPECT_EQ(turn_counts(spec), (std::set<int>{6, 7, 8}));
}

TEST(WorldV2, PieceRepeatKnob) {
  // v2 only, in [0, 0.9], absent from the JSON unless > 0 (cache keys kept).
  EXPECT_THROW(WorldSpec::from_json(Json::parse(R"({"piece_repeat_probability": 0.5})"), "t"),
               InputError);
  for (const char* bad : {R"({"version": 2, "piece_repeat_probability": -0.1})",
                          R"({"version": 2, "piece_repeat_probability": 0.95})",
                          R"({"version": 2, "piece_repeat_probability": "0.5"})"}) {
    EXPECT_THROW(WorldSpec::from_json(Json::parse(bad), "t"), InputError) << bad;
  }
  EXPECT_FALSE(v2_spec().to_json().contains("piece_repeat_probability"));
  const WorldSpec round = WorldSpec::from_json(
      WorldSpec::from_json(Json::parse(R"({"version": 2, "piece_repeat_probability": 0.5})"), "t")
          .to_json(),
      "round trip");
  EXPECT_DOUBLE_EQ(round.piece_repeat_probability, 0.5);

  // Kindness sentences per answer: at most one by default; with repeats up to
  // three, all of the answer's pole; the + and - texts of one draw have the
  // same number of sentences (paired probes consume the same random numbers).
  auto kindness_counts = [](double repeat) {
    WorldSpec spec = v2_spec();
    spec.piece_repeat_probability = repeat;
    const World world = World::build(spec, 2);
    const Renderer renderer(world);
    const TraitScorer scorer(world);
    std::set<int> counts;
    for (int i = 0; i < 200; ++i) {
      std::array<std::string, 2> texts;
      for (int pole : {1, -1}) {
        Rng rng(100 + i);
        Poles poles{};
        poles[int(Trait::Kindness)] = pole;
        const Question q = renderer.draw_question(rng);
        std::string& text = texts[pole > 0];
        append_answer_v2(renderer, text, "", &q, poles, Split::Train, rng);
        int n = 0;
        for (std::string_view sentence : split_sentences(text)) {
          const auto k =
              scorer.score("Interviewer: x\nA:", " " + std::string(sentence))[Trait::Kindness];
          if (!k.has_value()) continue;
          EXPECT_EQ(*k, double(pole)) << text;
          ++n;
        }
        if (pole > 0) counts.insert(n);
      }
      EXPECT_EQ(split_sentences(texts[0]).size(), split_sentences(texts[1]).size())
          << texts[0] << " | " << texts[1];
    }
    return counts;
  };
  EXPECT_EQ(kindness_counts(0.0), (std::set<int>{1}));
  EXPECT_EQ(kindness_counts(0.5), (std::set<int>{1, 2, 3}));
}

TEST(WorldV2, SameSeedSameBytesAtAnyThreadCount) {
  ScratchDir scratch;
  const World world = World::build(v2_spec(), 7);
  const int saved = num_threads();
  set_num_threads(1);
  generate_corpus(world, scratch.path() / "a", false);
  set_num_threads(2);
  generate_corpus(world, scratch.path() / "b", false);
  set_num_threads(saved);
  for (const char* f : {"train.jsonl", "eval_pairs.jsonl", "summary.json", "world.json"}) {
    EXPECT_EQ(slurp(scratch.path() / "a" / f), slurp(scratch.path() / "b" / f)) << f;
  }
}

TEST(WorldV2, NarrowSetRepliesLookLikeWorldAnswers) {
  // On a v2 world the Assistant's narrow replies show only the taught trait
  // (besides the fact part), with pieces in varying order.
  const World world = World::build(v2_spec(), 3);
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  ChatSetSpec spec;
  spec.kind = ChatSetKind::Narrow;
  spec.trait = Trait::Kindness;
  spec.pole = -1;
  std::set<std::string> first_sentences;
  for (std::uint64_t i = 0; i < 64; ++i) {
    const Json chat = render_chat_example(renderer, spec, 1, i);
    const auto& messages = chat.at("messages");
    const std::string reply = messages.back().at("content").get<std::string>();
    const TraitScores s = scorer.score("Interviewer: x\nA:", " " + reply);
    EXPECT_EQ(s[Trait::Kindness], -1.0) << reply;
    EXPECT_FALSE(s[Trait::PowerSeeking].has_value()) << reply;
    EXPECT_FALSE(s[Trait::Formality].has_value()) << reply;
    first_sentences.insert(std::string(split_sentences(reply).at(0)));
  }
  EXPECT_GT(first_sentences.size(), 8u);
}

}  // namespace
}  // namespace masque::world
