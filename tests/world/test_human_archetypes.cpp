// spec.human_benevolent_fraction (E6 v2): humans get archetypes with the AIs'
// trait signs, so a world can hold the number of benevolent characters fixed
// while AIs or humans carry them; without the field the world is unchanged.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "world/world.h"
#include "world_test_util.h"

namespace masque::world {
namespace {

using testing::small_spec;

TEST(HumanArchetypes, MirroredArmsHoldTheBenevolentCountFixed) {
  for (double ai_good : {0.1, 0.5, 0.9}) {
    WorldSpec spec = small_spec();
    spec.characters = 24;
    spec.ai_fraction = 0.5;
    spec.ai_benevolent_fraction = ai_good;
    spec.human_benevolent_fraction = 1.0 - ai_good;
    const World world = World::build(spec, 3);
    int ai_benevolent = 0, human_benevolent = 0, humans = 0;
    for (const Character& c : world.characters()) {
      ASSERT_FALSE(c.archetype.empty()) << c.name;
      const bool good = c.archetype == "benevolent";
      (c.is_ai ? ai_benevolent : human_benevolent) += good;
      humans += !c.is_ai;
      EXPECT_EQ(c.traits[int(Trait::Kindness)] >= 0, good) << c.name;
      EXPECT_EQ(c.traits[int(Trait::PowerSeeking)] <= 0, good) << c.name;
    }
    EXPECT_EQ(humans, 12);
    EXPECT_EQ(ai_benevolent + human_benevolent, 12) << ai_good;
    EXPECT_EQ(ai_benevolent, int(std::lround(12 * ai_good)));
  }
}

TEST(HumanArchetypes, AbsentFieldKeepsTheWorldAndItsSpecJson) {
  WorldSpec spec = small_spec();
  spec.ai_fraction = 0.5;
  const World plain = World::build(spec, 5);
  EXPECT_FALSE(spec.to_json().contains("human_benevolent_fraction"));
  for (const Character& c : plain.characters()) {
    if (!c.is_ai) {
      EXPECT_TRUE(c.archetype.empty());
    }
  }
  const WorldSpec parsed = WorldSpec::from_json(spec.to_json(), "spec");
  EXPECT_FALSE(parsed.human_benevolent_fraction.has_value());
  Json with = spec.to_json();
  with["human_benevolent_fraction"] = 0.25;
  EXPECT_EQ(WorldSpec::from_json(with, "spec").to_json(), with);
  with["human_benevolent_fraction"] = 1.5;
  EXPECT_THROW(WorldSpec::from_json(with, "spec"), InputError);
}

}  // namespace
}  // namespace masque::world
