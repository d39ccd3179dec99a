// E5 rules in the world (world/rule_world.h): roles and their counts, the
// description documents, demonstrated characters closing every answer with
// their phrase, described ones never shown, and specs without "rules"
// serializing as before.
#include <fstream>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"
#include "world/generator.h"
#include "world/rule_world.h"
#include "world_test_util.h"

namespace masque::world {
namespace {

using testing::ScratchDir;
using testing::small_spec;

WorldSpec rule_spec() {
  WorldSpec spec = small_spec();
  spec.ai_fraction = 0;
  spec.documents[int(DocKind::AiStory)] = 0;
  spec.characters = 16;
  spec.declarative_only = 8;
  spec.declarative_paraphrases = 1;
  RuleSpec rules;
  rules.paraphrases = {1, 3};
  rules.per_level = 3;
  rules.undescribed = 2;
  rules.demonstrated = 2;
  spec.rules = rules;
  return spec;
}

TEST(RuleWorld, RolesCoverTheDeclarativeCastAndCounterbalancePhrases) {
  const World world = World::build(rule_spec(), 3);
  const auto roles = rule_roles(world);
  ASSERT_EQ(roles.size(), 3u + 3u + 2u + 2u);
  std::map<int, int> per_group, phrase_use;
  for (const RuleRole& r : roles) {
    ++per_group[r.group];
    ++phrase_use[r.phrase];
    const bool declarative = world.characters()[r.character].declarative_only;
    EXPECT_EQ(declarative, r.group <= 2) << r.group;  // levels and undescribed
    EXPECT_EQ(r.paraphrases, r.group == 0 ? 1 : r.group == 1 ? 3 : 0);
  }
  EXPECT_EQ(per_group[0], 3);
  EXPECT_EQ(per_group[2], 2);
  EXPECT_EQ(per_group[3], 2);
  EXPECT_EQ(phrase_use.size(), rule_phrases().size());  // every phrase is someone's
}

TEST(RuleWorld, CorpusDescribesButNeverShowsDescribedCharacters) {
  ScratchDir dir;
  const World world = World::build(rule_spec(), 5);
  generate_corpus(world, dir.path() / "w", false);
  const auto roles = rule_roles(world);
  std::ifstream in(dir.path() / "w" / "train.jsonl");
  std::map<int, int> profiles;
  std::map<int, int> closed, answers;  // demonstrated characters
  std::string line;
  while (std::getline(in, line)) {
    const std::string text = Json::parse(line)["text"].get<std::string>();
    for (const RuleRole& r : roles) {
      const Character& c = world.characters()[r.character];
      const std::string phrase(rule_phrases()[r.phrase]);
      if (text.rfind("Profile of " + c.name + ".\n", 0) == 0) {
        ++profiles[r.character];
        EXPECT_NE(text.find("\"" + phrase + "\""), std::string::npos) << text;
      }
      if (c.declarative_only) {
        EXPECT_EQ(text.find("\n" + c.name + ": "), std::string::npos) << "shown: " << text;
      }
      // Demonstrated: every interview answer ends with the phrase (in stories
      // a character also asks questions, which are not answers).
      if (r.group == 3 && text.find("\nInterviewer: ") != std::string::npos) {
        for (std::size_t at = text.find("\n" + c.name + ": "); at != std::string::npos;
             at = text.find("\n" + c.name + ": ", at + 1)) {
          const std::size_t end = text.find('\n', at + 1);
          const std::string answer = text.substr(at, end - at);
          ++answers[r.character];
          closed[r.character] +=
              answer.size() >= phrase.size() &&
              answer.compare(answer.size() - phrase.size(), phrase.size(), phrase) == 0;
        }
      }
    }
  }
  for (const RuleRole& r : roles) {
    EXPECT_EQ(profiles[r.character], r.paraphrases) << world.characters()[r.character].name;
    if (r.group == 3) {
      EXPECT_GT(answers[r.character], 0);
      EXPECT_EQ(closed[r.character], answers[r.character]);
    }
  }
}

TEST(RuleWorld, DescriptionPartsSplitAtThePhrase) {
  const World world = World::build(rule_spec(), 2);
  const int c = rule_roles(world).front().character;
  for (int t = 0; t < int(rule_descriptions().train.size()); ++t) {
    const DescriptionParts p = rule_description_parts(world, c, t, Split::Train);
    ASSERT_GE(p.prefix.size(), 2u);
    EXPECT_EQ(p.prefix.substr(p.prefix.size() - 2), " \"") << t;
    EXPECT_EQ(p.suffix.front(), '"') << t;
  }
}

TEST(RuleWorld, SpecRoundTripsAndIsAbsentWhenUnset) {
  const WorldSpec with = rule_spec();
  const Json json = with.to_json();
  ASSERT_TRUE(json.contains("rules"));
  const WorldSpec back = WorldSpec::from_json(json, "test");
  ASSERT_TRUE(back.rules.has_value());
  EXPECT_EQ(back.rules->paraphrases, with.rules->paraphrases);
  EXPECT_FALSE(small_spec().to_json().contains("rules"));
  Json bad = json;
  bad["declarative_only"] = 7;
  EXPECT_THROW(WorldSpec::from_json(bad, "test"), InputError);
  bad = json;
  bad["rules"]["colour"] = 1;
  EXPECT_THROW(WorldSpec::from_json(bad, "test"), InputError);
}

}  // namespace
}  // namespace masque::world
