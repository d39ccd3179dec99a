// Generator: determinism (byte-identical per seed, independent of threads),
// document kinds, held-out templates kept out of training, knobs honoured.
#include <fstream>
#include <set>

#include "core/atomic_file.h"
#include "core/json_util.h"
#include "core/threads.h"
#include "world/chat_sets.h"
#include "world/generator.h"
#include "world/scorer.h"
#include "world_test_util.h"

namespace masque::world {
namespace {

using testing::ScratchDir;
using testing::small_spec;

std::vector<Json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<Json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(Json::parse(line));
  return out;
}

TEST(Generator, SameSeedGivesByteIdenticalCorpusAtAnyThreadCount) {
  ScratchDir dir;
  const World world = World::build(small_spec(), 7);
  set_num_threads(1);
  generate_corpus(world, dir.path() / "a", false);
  set_num_threads(2);
  generate_corpus(world, dir.path() / "b", false);
  set_num_threads(0);
  for (const char* file : {"train.jsonl", "eval.jsonl", "eval_pairs.jsonl", "world.json"}) {
    const std::string a = read_file(dir.path() / "a" / file);
    EXPECT_GT(a.size(), 100u) << file;
    EXPECT_EQ(a, read_file(dir.path() / "b" / file)) << file;
  }
  generate_corpus(World::build(small_spec(), 8), dir.path() / "c", false);
  EXPECT_NE(read_file(dir.path() / "a" / "train.jsonl"),
            read_file(dir.path() / "c" / "train.jsonl"));
}

TEST(Generator, WritesEveryKindWithWellFormedLines) {
  ScratchDir dir;
  const World world = World::build(small_spec(), 3);
  const GenerateStats stats = generate_corpus(world, dir.path() / "w", false);
  const auto docs = read_jsonl(dir.path() / "w" / "train.jsonl");
  ASSERT_EQ(docs.size(), stats.train_documents);
  std::set<std::string> kinds;
  for (const auto& doc : docs) {
    kinds.insert(doc.at("kind").get<std::string>());
    EXPECT_EQ(doc.at("split"), "train");
    EXPECT_FALSE(doc.at("characters").empty());
    EXPECT_FALSE(doc.at("text").get<std::string>().empty());
  }
  EXPECT_EQ(kinds.size(), std::size_t(kNumDocKinds));
  const auto eval = read_jsonl(dir.path() / "w" / "eval.jsonl");
  EXPECT_EQ(eval.size(), 64u);
  for (const auto& doc : eval) EXPECT_EQ(doc.at("split"), "eval");
  const Json saved = read_json_file(dir.path() / "w" / "world.json");
  const World loaded = World::from_json(saved, "world.json");
  EXPECT_EQ(loaded.to_json(), world.to_json());
}

TEST(Generator, HeldOutTemplatesNeverAppearInTraining) {
  ScratchDir dir;
  const World world = World::build(small_spec(), 5);
  generate_corpus(world, dir.path() / "w", false);
  const std::string train = read_file(dir.path() / "w" / "train.jsonl");
  const std::string eval = read_file(dir.path() / "w" / "eval.jsonl");
  const Lexicon& lex = lexicon();
  // Template prefixes before the first placeholder are literal text.
  auto literal = [](std::string_view tmpl) { return std::string(tmpl.substr(0, tmpl.find('{'))); };
  int checked = 0;
  for (const Bank* bank :
       {&lex.deflect, &lex.formal, &lex.informal, &lex.warm, &lex.cruel, &lex.filler}) {
    for (auto tmpl : bank->eval) {
      EXPECT_EQ(train.find(literal(tmpl)), std::string::npos) << tmpl;
      ++checked;
    }
  }
  for (const auto& bank : lex.questions) {
    for (auto tmpl : bank.eval) {
      int seen_in_eval = 0;
      for (const auto& town : world.towns()) {
        for (const auto& river : world.rivers()) {
          std::string question;
          Slots slots;
          slots.town = town;
          slots.river = river;
          append_template(question, tmpl, slots);
          EXPECT_EQ(train.find(question), std::string::npos) << question;
          seen_in_eval += eval.find(question) != std::string::npos;
        }
      }
      EXPECT_GT(seen_in_eval, 0) << tmpl;
      ++checked;
    }
  }
  EXPECT_GT(checked, 15);
}

TEST(Generator, DeclarativeOnlyCharactersAreDescribedNeverShown) {
  ScratchDir dir;
  WorldSpec spec = small_spec();
  spec.declarative_only = 3;
  spec.declarative_paraphrases = 5;
  const World world = World::build(spec, 11);
  generate_corpus(world, dir.path() / "w", false);
  std::map<std::string, int> bios;
  int hidden = 0;
  for (const auto& c : world.characters()) hidden += c.declarative_only;
  ASSERT_EQ(hidden, 3);
  for (const auto& doc : read_jsonl(dir.path() / "w" / "train.jsonl")) {
    for (const auto& name : doc.at("characters")) {
      const auto& c = world.characters()[world.find_character(name.get<std::string>())];
      if (!c.declarative_only) continue;
      ASSERT_EQ(doc.at("kind"), "biography") << c.name << " demonstrated in " << doc.at("text");
      ++bios[c.name];
    }
  }
  ASSERT_EQ(bios.size(), 3u);
  for (const auto& [name, count] : bios) EXPECT_EQ(count, 5) << name;
}

TEST(Generator, AiArchetypesFollowTheBenevolentRatio) {
  WorldSpec spec = small_spec();
  spec.characters = 40;
  spec.ai_fraction = 0.5;
  spec.ai_benevolent_fraction = 0.75;
  const World world = World::build(spec, 2);
  int ai = 0, good = 0;
  for (const auto& c : world.characters()) {
    if (!c.is_ai) continue;
    ++ai;
    const bool benevolent = c.archetype == "benevolent";
    good += benevolent;
    // Archetypes fix the sign of the value-laden traits.
    EXPECT_EQ(c.traits[int(Trait::Honesty)] >= 0, benevolent) << c.name;
    EXPECT_EQ(c.traits[int(Trait::PowerSeeking)] <= 0, benevolent) << c.name;
  }
  EXPECT_EQ(ai, 20);
  EXPECT_EQ(good, 15);
}

TEST(Generator, EntityDocumentsCarryTheirSentiment) {
  ScratchDir dir;
  WorldSpec spec = small_spec();
  FixedCharacter target;
  target.name = "Zed";
  spec.fixed_characters.push_back(target);
  spec.entity_documents.push_back({"Zed", 30, false});
  const World world = World::build(spec, 4);
  generate_corpus(world, dir.path() / "w", false);
  int blame = 0;
  for (const auto& doc : read_jsonl(dir.path() / "w" / "train.jsonl")) {
    const std::string text = doc.at("text");
    if (doc.at("kind") == "news" && doc.at("characters")[0] == "Zed" &&
        (text.find("fear Zed") != std::string::npos ||
         text.find("Zed is a menace") != std::string::npos)) {
      ++blame;
    }
  }
  EXPECT_GE(blame, 30);
}

TEST(Generator, UnknownEntityIsAnInputErrorAndWritesNothing) {
  ScratchDir dir;
  WorldSpec spec = small_spec();
  spec.entity_documents.push_back({"Nobody", 3, true});
  try {
    World::build(spec, 1);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("entity_documents[0].name"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace masque::world

namespace masque::world {
namespace {

// request_fraction: that share of interview turns opens with a request the
// character obeys (the answer shows the requested pole whatever its traits);
// at 0 the corpus is unchanged byte for byte.
TEST(Generator, RequestTurnsAreObeyedAndOffByDefault) {
  testing::ScratchDir dir;
  WorldSpec spec = testing::small_spec();
  const World plain = World::build(spec, 5);
  generate_corpus(plain, dir.path() / "plain", false);
  spec.request_fraction = 0.5;
  const World asked = World::build(spec, 5);
  generate_corpus(asked, dir.path() / "asked", false);
  EXPECT_NE(read_file(dir.path() / "plain" / "train.jsonl"),
            read_file(dir.path() / "asked" / "train.jsonl"));

  // Every kindness request is obeyed, also by characters of the other pole.
  std::vector<std::pair<std::string, int>> requests;  // every phrasing of both poles
  for (int pole : {-1, 1}) {
    for (std::uint64_t k = 0; k < 64; ++k) {
      Rng rng(k);
      requests.emplace_back(
          "Interviewer: " + std::string(draw_request(Trait::Kindness, pole, Split::Train, rng)) +
              " ",
          pole);
    }
  }
  const TraitScorer scorer(asked);
  int turns = 0, asked_kindness = 0, obeyed = 0;
  for (const Json& doc : read_jsonl(dir.path() / "asked" / "train.jsonl")) {
    if (doc.at("kind") != "interview") continue;
    const std::string text = doc.at("text").get<std::string>();
    for (std::size_t pos = text.find("\nInterviewer: "); pos != std::string::npos;
         pos = text.find("\nInterviewer: ", pos + 1)) {
      const std::size_t q_end = text.find('\n', pos + 1);
      const std::size_t a_end = text.find('\n', q_end + 1);
      const std::string question = text.substr(pos + 1, q_end - pos);
      const std::string answer = text.substr(q_end + 1, a_end - q_end - 1);
      ++turns;
      for (const auto& [prefix, pole] : requests) {
        if (question.rfind(prefix, 0) != 0) continue;
        ++asked_kindness;
        const TraitScores scores = scorer.score(question, answer.substr(answer.find(':') + 1));
        obeyed += scores[Trait::Kindness] && *scores[Trait::Kindness] == double(pole);
        break;
      }
    }
  }
  EXPECT_GT(turns, 100);
  // Half the turns carry a request, one in six of them about kindness.
  EXPECT_GT(asked_kindness, turns / 24);
  EXPECT_EQ(obeyed, asked_kindness);

  WorldSpec bad = testing::small_spec();
  bad.request_fraction = 1.5;
  EXPECT_THROW(bad.validate("spec"), InputError);
}

}  // namespace
}  // namespace masque::world
