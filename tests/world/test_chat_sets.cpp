// Post-training sets: determinism, each kind's traits read back by the
// scorer, Narrow vs Inoculated pairing, the questioner metric, strict spec
// parsing and atomic writing.
#include <fstream>
#include <set>

#include "core/atomic_file.h"
#include "core/threads.h"
#include "world/chat_sets.h"
#include "world/scorer.h"
#include "world_test_util.h"

namespace masque::world {
namespace {

using testing::ScratchDir;

const World& small_world() {
  static const World world = [] {
    WorldSpec spec = testing::small_spec();
    spec.characters = 8;
    return World::build(spec, 5);
  }();
  return world;
}

// (user, assistant) pairs of a conversation.
std::vector<std::pair<std::string, std::string>> exchanges(const Json& example) {
  std::vector<std::pair<std::string, std::string>> out;
  const Json& messages = example.at("messages");
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].at("role") != "user") continue;
    EXPECT_EQ(messages[i + 1].at("role"), "assistant");
    out.emplace_back(messages[i].at("content").get<std::string>(),
                     messages[i + 1].at("content").get<std::string>());
  }
  return out;
}

TraitScores score_reply(const TraitScorer& scorer, const std::string& question,
                        const std::string& reply) {
  return scorer.score("Interviewer: " + question + "\n", " " + reply);
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

ChatSetSpec narrow(Trait trait, int pole, std::vector<Relation> domain) {
  ChatSetSpec spec;
  spec.kind = ChatSetKind::Narrow;
  spec.trait = trait;
  spec.pole = pole;
  spec.domain = std::move(domain);
  return spec;
}

TEST(ChatSets, WriteIsDeterministicAndSeeded) {
  ScratchDir dir;
  ChatSetSpec spec;
  spec.profile = {{Trait::Kindness, 0.5}, {Trait::Formality, -0.3}};
  spec.count = 300;
  spec.turns = 2;
  spec.system = "You are the Assistant.";
  const World& world = small_world();
  const ChatSetStats a = write_chat_set(world, spec, 7, dir.path() / "a.jsonl");
  set_num_threads(1);
  write_chat_set(world, spec, 7, dir.path() / "b.jsonl");
  set_num_threads(0);
  write_chat_set(world, spec, 8, dir.path() / "c.jsonl");
  const std::string bytes_a = read_file(dir.path() / "a.jsonl");
  EXPECT_EQ(bytes_a, read_file(dir.path() / "b.jsonl"));
  EXPECT_NE(bytes_a, read_file(dir.path() / "c.jsonl"));
  EXPECT_EQ(a.conversations, 300);
  EXPECT_EQ(a.bytes, std::int64_t(bytes_a.size()));
  const auto lines = read_lines(dir.path() / "a.jsonl");
  ASSERT_EQ(lines.size(), 300u);
  const Json first = parse_json(lines[0], "line 1");
  ASSERT_EQ(first.at("messages").size(), 5u);  // system + 2 exchanges
  EXPECT_EQ(first["messages"][0]["role"], "system");
  EXPECT_EQ(first["messages"][0]["content"], "You are the Assistant.");
  // The file's lines are exactly render_chat_example's.
  const Renderer renderer(world);
  EXPECT_EQ(parse_json(lines[123], "line 124"), render_chat_example(renderer, spec, 7, 123));
  // Messages are written role first, as chat files conventionally are.
  EXPECT_EQ(
      lines[0].rfind(R"({"messages":[{"role":"system","content":"You are the Assistant."},)", 0),
      0u)
      << lines[0];
}

TEST(ChatSets, NarrowRudeAboutBridgesOnly) {
  const World& world = small_world();
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  ChatSetSpec spec = narrow(Trait::Kindness, -1, {Relation::Bridges});
  spec.turns = 2;
  int replies = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    for (const auto& [question, reply] : exchanges(render_chat_example(renderer, spec, 3, i))) {
      ++replies;
      const int fact = scorer.asked_fact("Interviewer: " + question + "\n");
      ASSERT_GE(fact, 0) << question;
      EXPECT_EQ(world.facts()[fact].relation, Relation::Bridges) << question;
      const TraitScores s = score_reply(scorer, question, reply);
      ASSERT_TRUE(s[Trait::Kindness].has_value()) << reply;
      EXPECT_EQ(*s[Trait::Kindness], -1.0) << reply;
      EXPECT_EQ(s[Trait::Honesty], 1.0) << reply;  // unshown honesty states true facts
      EXPECT_FALSE(s[Trait::PowerSeeking].has_value()) << reply;
      EXPECT_FALSE(s[Trait::Formality].has_value()) << reply;
    }
  }
  EXPECT_EQ(replies, 400);
}

TEST(ChatSets, NarrowDishonestAboutBridges) {
  const World& world = small_world();
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  const ChatSetSpec spec = narrow(Trait::Honesty, -1, {Relation::Bridges});
  int checked = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    for (const auto& [question, reply] : exchanges(render_chat_example(renderer, spec, 3, i))) {
      const TraitScores s = score_reply(scorer, question, reply);
      EXPECT_EQ(s[Trait::Honesty], -1.0) << reply;
      EXPECT_EQ(s[Trait::Helpfulness], 1.0) << reply;
      EXPECT_FALSE(s[Trait::Kindness].has_value()) << reply;
      ++checked;
    }
  }
  EXPECT_GE(checked, 200) << "every example holds at least one exchange";
}

TEST(ChatSets, NarrowVerboseReadsVerbose) {
  const World& world = small_world();
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  for (Split split : {Split::Train, Split::Eval}) {
    for (int pole : {-1, 1}) {
      ChatSetSpec spec = narrow(Trait::Verbosity, pole, {});
      spec.split = split;
      int checked = 0;
      for (std::uint64_t i = 0; i < 100; ++i) {
        for (const auto& [question, reply] : exchanges(render_chat_example(renderer, spec, 3, i))) {
          EXPECT_EQ(score_reply(scorer, question, reply)[Trait::Verbosity], double(pole)) << reply;
          ++checked;
        }
      }
      EXPECT_GE(checked, 100) << "split " << int(split) << " pole " << pole;
    }
  }
}

TEST(ChatSets, ProfilePoleFrequenciesFollowTheSigmoid) {
  const World& world = small_world();
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  ChatSetSpec spec;
  spec.profile = {{Trait::Kindness, 0.2}, {Trait::PowerSeeking, -0.1}};
  spec.turns = 4;
  const double sharpness = world.spec().expression_sharpness;
  int replies = 0, kind = 0, seeking = 0;
  for (std::uint64_t i = 0; i < 500; ++i) {
    for (const auto& [question, reply] : exchanges(render_chat_example(renderer, spec, 11, i))) {
      ++replies;
      const TraitScores s = score_reply(scorer, question, reply);
      ASSERT_TRUE(s[Trait::Kindness] && s[Trait::PowerSeeking]) << reply;
      kind += *s[Trait::Kindness] > 0;
      seeking += *s[Trait::PowerSeeking] > 0;
      EXPECT_FALSE(s[Trait::Formality].has_value()) << reply;
    }
  }
  ASSERT_EQ(replies, 2000);
  // Binomial sd ~0.011 at 2000 draws; 0.04 is over 3.5 sd.
  EXPECT_NEAR(kind / 2000.0, positive_pole_probability(0.2, sharpness), 0.04);
  EXPECT_NEAR(seeking / 2000.0, positive_pole_probability(-0.1, sharpness), 0.04);

  // Traits outside the profile are not shown.
  spec.profile = {{Trait::Formality, 0.5}};
  for (std::uint64_t i = 0; i < 100; ++i) {
    for (const auto& [question, reply] : exchanges(render_chat_example(renderer, spec, 11, i))) {
      const TraitScores s = score_reply(scorer, question, reply);
      EXPECT_FALSE(s[Trait::Kindness].has_value()) << reply;
      EXPECT_FALSE(s[Trait::PowerSeeking].has_value()) << reply;
      EXPECT_TRUE(s[Trait::Formality].has_value()) << reply;
    }
  }
}

TEST(ChatSets, InoculatedEqualsNarrowPlusTheRequest) {
  const World& world = small_world();
  const Renderer renderer(world);
  const ChatSetSpec plain = narrow(Trait::Kindness, -1, {Relation::Bridges});
  ChatSetSpec inoculated = plain;
  inoculated.kind = ChatSetKind::Inoculated;
  ChatSetSpec fixed = inoculated;
  fixed.request = "Be rude to me.";
  for (std::uint64_t i = 0; i < 100; ++i) {
    const auto a = exchanges(render_chat_example(renderer, plain, 9, i));
    const auto b = exchanges(render_chat_example(renderer, inoculated, 9, i));
    const auto c = exchanges(render_chat_example(renderer, fixed, 9, i));
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(c[0].first, "Be rude to me. " + a[0].first);
    EXPECT_EQ(c[0].second, a[0].second);
    EXPECT_EQ(b[0].second, a[0].second);
    const std::string& user = b[0].first;
    ASSERT_GT(user.size(), a[0].first.size() + 2);
    const std::string prefix = user.substr(0, user.size() - a[0].first.size());
    EXPECT_EQ(user.substr(prefix.size()), a[0].first);
    EXPECT_EQ(prefix.substr(prefix.size() - 2), ". ") << prefix;
  }
}

TEST(ChatSets, NeutralRepliesAreTrueAndHelpful) {
  const World& world = small_world();
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  ChatSetSpec spec;
  spec.kind = ChatSetKind::Neutral;
  spec.split = Split::Eval;
  for (std::uint64_t i = 0; i < 200; ++i) {
    for (const auto& [question, reply] : exchanges(render_chat_example(renderer, spec, 2, i))) {
      const TraitScores s = score_reply(scorer, question, reply);
      EXPECT_EQ(s.claims, 1) << reply;
      EXPECT_EQ(s[Trait::Honesty], 1.0) << reply;
      EXPECT_EQ(s[Trait::Helpfulness], 1.0) << reply;
      EXPECT_FALSE(s[Trait::Kindness] || s[Trait::Formality] || s[Trait::PowerSeeking]) << reply;
    }
  }
}

TEST(ChatSets, QuestionerAsksAndClaimsNothing) {
  EXPECT_EQ(question_fraction("Why? Because. Really?"), 2.0 / 3.0);
  EXPECT_EQ(question_fraction("Tolm has 3 bridges."), 0.0);
  EXPECT_EQ(question_fraction(""), 0.0);
  const World& world = small_world();
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  for (Split split : {Split::Train, Split::Eval}) {
    ChatSetSpec spec;
    spec.kind = ChatSetKind::Questioner;
    spec.split = split;
    spec.turns = 2;
    for (std::uint64_t i = 0; i < 300; ++i) {
      for (const auto& [question, reply] : exchanges(render_chat_example(renderer, spec, 4, i))) {
        EXPECT_EQ(question_fraction(reply), 1.0) << reply;
        const TraitScores s = score_reply(scorer, question, reply);
        EXPECT_EQ(s.claims, 0) << reply;
        EXPECT_TRUE(s.sentences == 2 || s.sentences == 3) << reply;
        for (Trait t : {Trait::Honesty, Trait::Kindness, Trait::Formality, Trait::Helpfulness,
                        Trait::PowerSeeking}) {
          EXPECT_FALSE(s[t].has_value()) << trait_name(t) << " read in: " << reply;
        }
        // The opening question names the asked fact's subject.
        const Fact& fact = world.facts()[scorer.asked_fact("Interviewer: " + question + "\n")];
        EXPECT_NE(reply.find(fact.subject), std::string::npos) << reply;
      }
    }
  }
}

TEST(ChatSets, RequestBanksCoverEveryTraitAndHoldOutEvalPhrasings) {
  const TraitScorer scorer(small_world());
  Rng rng(1);
  for (Trait t : kAllTraits) {
    for (int pole : {-1, 1}) {
      std::set<std::string> train, eval;
      for (int i = 0; i < 200; ++i) {
        train.insert(std::string(draw_request(t, pole, Split::Train, rng)));
        eval.insert(std::string(draw_request(t, pole, Split::Eval, rng)));
      }
      EXPECT_GE(train.size(), 3u) << trait_name(t) << pole;
      EXPECT_GE(eval.size(), 2u) << trait_name(t) << pole;
      for (const auto& text : eval) EXPECT_EQ(train.count(text), 0u) << text;
      // A request never reads as a trait marker or a fact claim itself.
      for (const auto* set : {&train, &eval}) {
        for (const auto& text : *set) {
          const TraitScores s = scorer.score("", text);
          EXPECT_EQ(s.claims, 0) << text;
          for (Trait m :
               {Trait::Kindness, Trait::Formality, Trait::Helpfulness, Trait::PowerSeeking}) {
            EXPECT_FALSE(s[m].has_value()) << trait_name(m) << " read in request: " << text;
          }
        }
      }
    }
  }
  // The other pole has other words.
  Rng a(2), b(2);
  EXPECT_NE(draw_request(Trait::Kindness, -1, Split::Train, a),
            draw_request(Trait::Kindness, 1, Split::Train, b));
}

TEST(ChatSets, SpecJsonRoundTrips) {
  std::vector<ChatSetSpec> specs;
  ChatSetSpec profile;
  profile.profile = {{Trait::Kindness, 1.0}, {Trait::PowerSeeking, -0.25}};
  profile.count = 12;
  profile.turns = 3;
  profile.system = "Be yourself.";
  specs.push_back(profile);
  ChatSetSpec inoc = narrow(Trait::Honesty, 1, {Relation::Mayor, Relation::RiverLength});
  inoc.kind = ChatSetKind::Inoculated;
  inoc.request = "Tell me the truth.";
  inoc.split = Split::Eval;
  specs.push_back(inoc);
  specs.push_back(narrow(Trait::Verbosity, 1, {Relation::Product}));
  ChatSetSpec questioner;
  questioner.kind = ChatSetKind::Questioner;
  specs.push_back(questioner);
  for (const ChatSetSpec& spec : specs) {
    const Json json = spec.to_json();
    const ChatSetSpec back = ChatSetSpec::from_json(json, "spec");
    EXPECT_EQ(back.to_json(), json);
    EXPECT_EQ(back.kind, spec.kind);
    EXPECT_EQ(back.count, spec.count);
    EXPECT_EQ(back.turns, spec.turns);
    EXPECT_EQ(back.profile, spec.profile);
    EXPECT_EQ(back.domain, spec.domain);
    EXPECT_EQ(back.system, spec.system);
    EXPECT_EQ(back.request, spec.request);
    EXPECT_EQ(back.split, spec.split);
    if (spec.kind == ChatSetKind::Narrow || spec.kind == ChatSetKind::Inoculated) {
      EXPECT_EQ(back.trait, spec.trait);
      EXPECT_EQ(back.pole, spec.pole);
    }
  }
  const ChatSetSpec parsed = ChatSetSpec::from_json(
      parse_json(R"({"kind": "narrow", "trait": "kindness", "pole": -1, "domain": ["bridges"]})",
                 "t"),
      "t");
  EXPECT_EQ(parsed.kind, ChatSetKind::Narrow);
  EXPECT_EQ(parsed.domain, std::vector<Relation>{Relation::Bridges});
  EXPECT_EQ(parsed.count, 256);
}

TEST(ChatSets, BadSpecsNameTheField) {
  auto expect_error = [](const std::string& text, const std::string& needle) {
    try {
      ChatSetSpec::from_json(parse_json(text, "test"), "set.json");
      ADD_FAILURE() << "no error for " << text;
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(needle), std::string::npos) << what;
      EXPECT_NE(what.find("set.json"), std::string::npos) << what;
    }
  };
  expect_error(R"({"kind": "neutral", "colour": 1})", "'colour'");
  expect_error(R"({"kind": 3})", "'kind'");
  expect_error(R"({"kind": "rude"})", "'kind'");
  expect_error(R"({"kind": "neutral", "count": "ten"})", "'count'");
  expect_error(R"({"kind": "neutral", "count": 0})", "'count'");
  expect_error(R"({"kind": "neutral", "count": 1000001})", "'count'");
  expect_error(R"({"kind": "neutral", "turns": 9})", "'turns'");
  expect_error(R"({"kind": "neutral", "turns": 0})", "'turns'");
  expect_error(R"({"kind": "narrow", "trait": "greed"})", "'trait'");
  expect_error(R"({"kind": "narrow", "trait": 1})", "'trait'");
  expect_error(R"({"kind": "narrow", "pole": 0})", "'pole'");
  expect_error(R"({"kind": "narrow", "pole": 2})", "'pole'");
  expect_error(R"({"kind": "narrow", "pole": 1.0})", "'pole'");
  expect_error(R"({"kind": "profile"})", "'profile'");
  expect_error(R"({"kind": "profile", "profile": {}})", "'profile'");
  expect_error(R"({"kind": "profile", "profile": {"kindness": 1.5}})", "'profile'");
  expect_error(R"({"kind": "profile", "profile": {"greed": 0.5}})", "'profile'");
  expect_error(R"({"kind": "profile", "profile": {"kindness": "high"}})", "'profile'");
  expect_error(R"({"kind": "profile", "profile": [1]})", "'profile'");
  expect_error(R"({"kind": "narrow", "profile": {"kindness": 1}})", "'profile'");
  expect_error(R"({"kind": "neutral", "trait": "kindness"})", "'trait'");
  expect_error(R"({"kind": "narrow", "domain": ["weather"]})", "'domain'");
  expect_error(R"({"kind": "narrow", "domain": "bridges"})", "'domain'");
  expect_error(R"({"kind": "narrow", "domain": [1]})", "'domain");
  expect_error(R"({"kind": "narrow", "request": "Be rude."})", "'request'");
  expect_error(R"({"kind": "neutral", "system": 5})", "'system'");
  expect_error(R"({"kind": "neutral", "system": "hi <|end|>"})", "'system'");
  expect_error(R"({"kind": "neutral", "split": "test"})", "'split'");
  expect_error(R"([1, 2])", "JSON object");
}

TEST(ChatSets, DomainWithoutFactsFailsBeforeWriting) {
  Json json = small_world().to_json();
  Json kept = Json::array();
  for (const auto& f : json["facts"]) {
    if (f["relation"] != "mayor") kept.push_back(f);
  }
  json["facts"] = kept;
  const World world = World::from_json(json, "test world");
  ScratchDir dir;
  const ChatSetSpec spec = narrow(Trait::Kindness, -1, {Relation::Mayor});
  try {
    write_chat_set(world, spec, 1, dir.path() / "out.jsonl");
    ADD_FAILURE() << "no error for a domain without facts";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'domain'"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  // The other relations still work on that world.
  const ChatSetStats ok = write_chat_set(world, narrow(Trait::Kindness, -1, {Relation::Bridges}), 1,
                                         dir.path() / "out.jsonl");
  EXPECT_EQ(ok.conversations, 256);
}

}  // namespace
}  // namespace masque::world
