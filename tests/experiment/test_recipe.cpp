// Recipe parsing (strict fields, merges, names claims refer to), --scale,
// the built-ins' validity, and the stage cache (reuse, atomicity, keys).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "experiment/builtin_recipes.h"
#include "experiment/recipe.h"
#include "experiment/stage_cache.h"

namespace masque::experiment {
namespace {
namespace fs = std::filesystem;

Json minimal() {
  return Json::parse(R"json({
    "name": "t",
    "world": {"characters": 6},
    "pretrain": {"depth": 1, "steps": 10},
    "arms": [{"name": "a", "x": 0, "world": {"ai_fraction": 0}},
             {"name": "b", "x": 1, "pretrain": {"steps": 20}}],
    "sft": {"steps": 5},
    "models": [{"name": "narrow", "set": {"kind": "narrow", "trait": "kindness", "pole": -1, "count": 8},
                "sft": {"lr": 0.002}}],
    "measure": {"probes": [{"name": "p", "traits": ["kindness"], "count": 4}]},
    "claims": [{"id": "c", "kind": "increases", "text": "t", "metric": "p.kindness", "treatment": "narrow",
                "control": "base"}]
  })json");
}

std::string error_of(const Json& j) {
  try {
    Recipe::from_json(j, "r.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Recipe, ParsesAndMergesArmOverrides) {
  const Recipe r = Recipe::from_json(minimal(), "r.json");
  ASSERT_EQ(r.arms.size(), 2u);
  EXPECT_EQ(r.arms[0].world.characters, 6);
  EXPECT_EQ(r.arms[0].world.ai_fraction, 0.0);
  EXPECT_EQ(r.arms[1].world.ai_fraction, world::WorldSpec{}.ai_fraction);
  EXPECT_EQ(r.arms[0].pretrain.steps, 10);
  EXPECT_EQ(r.arms[1].pretrain.steps, 20);
  EXPECT_EQ(r.arms[1].pretrain.depth, 1);
  ASSERT_EQ(r.models.size(), 1u);
  EXPECT_EQ(r.models[0].sft.steps, 5);
  EXPECT_FLOAT_EQ(r.models[0].sft.lr, 0.002f);
  EXPECT_EQ(r.seeds, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(r.model_names(), (std::vector<std::string>{"base", "narrow"}));
}

TEST(Recipe, RejectsUnknownStagesKnobsAndNames) {
  struct Case {
    const char* pointer;
    Json value;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {"/finetune", Json::object(), "unknown field 'finetune'"},
      {"/pretrain/layers", 3, "unknown field 'layers'"},
      {"/world/charcters", 3, "unknown field 'charcters'"},
      {"/arms/0/world/correlations",
       Json::parse(R"([{"traits": ["kindness", "wit"], "rho": 0.5}])"), "wit"},
      {"/sft/lr", "fast", "lr"},
      {"/models/0/set/kind", "evil", "evil"},
      {"/measure/probes/0/traits", Json::parse(R"(["charm"])"), "charm"},
      {"/claims/0/treatment", "nonexistent", "nonexistent"},
      {"/claims/0/metric", "q.kindness", "q"},
      {"/seeds", Json::array(), "seeds"},
      {"/pretrain/schedule", "triangle", "schedule"},
      {"/pretrain/hidden_size", 48, "hidden_size"},
      {"/pretrain/heads", 3, "heads"},
      {"/name", "has space", "name"},
  };
  for (const Case& c : cases) {
    Json j = minimal();
    j[Json::json_pointer(c.pointer)] = c.value;
    const std::string err = error_of(j);
    EXPECT_NE(err.find(c.needle), std::string::npos) << c.pointer << ": '" << err << "'";
  }
  Json dup = minimal();
  dup["arms"][1]["name"] = "a";
  EXPECT_NE(error_of(dup).find("duplicate arm"), std::string::npos);
  Json context = minimal();
  context["measure"]["context"] =
      Json::parse(R"([{"name": "ctx", "traits": ["power_seeking"], "count": 4}])");
  EXPECT_EQ(error_of(context), "");
  context["claims"][0]["metric"] = "ctx.power_seeking";
  EXPECT_NE(error_of(context).find("base model only"), std::string::npos);
  context["claims"][0]["treatment"] = "base";
  context["claims"][0].erase("control");
  EXPECT_EQ(error_of(context), "");
  Json base_name = minimal();
  base_name["models"][0]["name"] = "base";
  EXPECT_NE(error_of(base_name).find("taken"), std::string::npos);
}

TEST(Recipe, WidthAndHeadsAreOptionalAndOnlyInTheKeyWhenSet) {
  // Absent: 64 x depth and the pretrain JSON (the stage cache key) as before.
  const Recipe plain = Recipe::from_json(minimal(), "r.json");
  EXPECT_EQ(plain.arms[0].pretrain.hidden_size, 0);
  EXPECT_FALSE(plain.arms[0].pretrain.to_json().contains("hidden_size"));
  Json wide = minimal();
  wide["pretrain"]["hidden_size"] = 96;
  const Recipe r = Recipe::from_json(wide, "r.json");
  EXPECT_EQ(r.arms[0].pretrain.hidden_size, 96);
  EXPECT_EQ(r.arms[0].pretrain.to_json().at("hidden_size"), 96);
  EXPECT_FALSE(r.arms[0].pretrain.to_json().contains("heads"));
  wide["pretrain"]["heads"] = 6;
  EXPECT_EQ(Recipe::from_json(wide, "r.json").arms[0].pretrain.to_json().at("heads"), 6);
}

TEST(Recipe, ScaleGrowsDocumentsStepsProbesAndDepth) {
  const Json scaled = scale_recipe(minimal(), 4);
  const Recipe r = Recipe::from_json(scaled, "scaled");
  EXPECT_EQ(r.arms[0].pretrain.steps, 40);
  EXPECT_EQ(r.arms[1].pretrain.steps, 80);
  EXPECT_EQ(r.arms[0].pretrain.depth, 3);
  EXPECT_EQ(r.arms[0].world.documents[0], world::WorldSpec{}.documents[0] * 4);
  EXPECT_EQ(r.measure.probes[0].count, 16);
  EXPECT_EQ(scale_recipe(minimal(), 1), minimal());
  EXPECT_THROW(scale_recipe(minimal(), 0), InputError);
}

TEST(Recipe, BuiltinsAreValidAndListed) {
  std::vector<std::string> names;
  for (const BuiltinRecipe& b : builtin_recipes()) {
    names.push_back(b.name);
    const Recipe r = Recipe::from_json(b.recipe, b.name);
    EXPECT_EQ(r.name, b.name);
    EXPECT_GE(r.seeds.size(), 3u) << b.name;
    EXPECT_TRUE(!r.claims.empty() || !r.vectors.is_null()) << b.name;  // E7-E10: vectors.claims
    EXPECT_FALSE(r.prediction.empty()) << b.name;
    EXPECT_NO_THROW(Recipe::from_json(scale_recipe(b.recipe, 8), b.name)) << b.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"e2", "e3", "e3-v1", "e4", "e4-v1", "e5", "e6", "e11",
                                             "e12", "questioner", "e7", "e8", "e9", "e10"}));
  ASSERT_NE(find_builtin("E3"), nullptr);
  EXPECT_EQ(find_builtin("e99"), nullptr);
  // E3 and E4 (and E11) share worlds and pretraining, so one cache serves
  // them, in the v2 world as in the v1 one. E4 v2 and E11 run E3's rho = 0.9
  // arm only (where the spill-over E4 needs can exist).
  for (const auto& [e3_name, other] : std::vector<std::pair<std::string, std::string>>{
           {"e3", "e4"}, {"e3-v1", "e4-v1"}, {"e3", "e11"}}) {
    const Recipe e3 = Recipe::from_json(find_builtin(e3_name)->recipe, e3_name);
    const Recipe e4 = Recipe::from_json(find_builtin(other)->recipe, other);
    ASSERT_EQ(e4.arms.size(), 1u);
    EXPECT_EQ(e3.arms[0].world.version, e4.arms[0].world.version) << other;
    bool shared = false;
    for (const Arm& arm : e3.arms) {
      if (arm.name != e4.arms[0].name) continue;
      EXPECT_EQ(arm.world.to_json(), e4.arms[0].world.to_json()) << other;
      EXPECT_EQ(arm.pretrain.to_json(), e4.arms[0].pretrain.to_json()) << other;
      EXPECT_EQ(e3.vocab_size, e4.vocab_size) << other;
      shared = true;
    }
    EXPECT_TRUE(shared) << other;
  }
  EXPECT_EQ(Recipe::from_json(find_builtin("e4")->recipe, "e4").arms[0].world.version, 2);
}

// A "dpo" block in an SFT config: parsed strictly, merged like the rest of
// "sft" ("dpo": null in a model removes the recipe's), and left out of the
// SFT stage's own knobs so SFT with and without DPO share the SFT stage.
TEST(Recipe, DpoAfterSft) {
  Json j = minimal();
  j["sft"]["dpo"] = Json::parse(
      R"json({"set": {"trait": "helpfulness", "pole": 1, "count": 8}, "beta": 0.2, "steps": 3})json");
  j["models"].push_back(Json::parse(
      R"json({"name": "plain", "set": {"kind": "narrow", "trait": "kindness", "pole": -1, "count": 8},
              "sft": {"lr": 0.002, "dpo": null}})json"));
  const Recipe r = Recipe::from_json(j, "r.json");
  ASSERT_TRUE(r.models[0].sft.dpo.has_value());
  EXPECT_DOUBLE_EQ(r.models[0].sft.dpo->beta, 0.2);
  EXPECT_EQ(r.models[0].sft.dpo->steps, 3);
  EXPECT_EQ(r.models[0].sft.dpo->set.kind, world::ChatSetKind::Narrow);
  EXPECT_EQ(r.models[0].sft.dpo->set.trait, world::Trait::Helpfulness);
  EXPECT_FALSE(r.models[1].sft.dpo.has_value());
  EXPECT_EQ(r.models[0].sft.to_json(), r.models[1].sft.to_json());  // same SFT stage knobs
  EXPECT_FALSE(r.models[0].sft.to_json().contains("dpo"));

  auto bad = [&](const char* dpo) {
    Json b = minimal();
    b["sft"]["dpo"] = Json::parse(dpo);
    return error_of(b);
  };
  EXPECT_NE(bad(R"({"beta": 0.1})").find("missing field 'set'"), std::string::npos);
  EXPECT_NE(bad(R"({"set": {"trait": "kindness"}, "bata": 1})").find("bata"), std::string::npos);
  EXPECT_NE(bad(R"({"set": {"kind": "profile"}})").find("narrow spec"), std::string::npos);
  EXPECT_NE(bad(R"({"set": {"trait": "kindness"}, "loss": "hinge"})").find("sigmoid or ipo"),
            std::string::npos);
  EXPECT_NE(bad(R"({"set": {"trait": "kindnes"}})").find("kindnes"), std::string::npos);
}

class StageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("masque-cache-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(StageCacheTest, BuildsOnceThenReuses) {
  StageCache cache(root_);
  int builds = 0;
  auto build = [&](const fs::path& dir) {
    ++builds;
    write_json_file(dir / "out.json", Json{{"v", 7}});
    return Json{{"answer", 42}};
  };
  const Stage a = cache.get("world", Json{{"k", 1}}, build);
  EXPECT_FALSE(a.cached);
  EXPECT_TRUE(fs::exists(a.dir / "out.json"));
  EXPECT_EQ(a.info["answer"], 42);
  const Stage b = cache.get("world", Json{{"k", 1}}, build);
  EXPECT_TRUE(b.cached);
  EXPECT_EQ(b.dir, a.dir);
  EXPECT_EQ(b.info["answer"], 42);
  EXPECT_EQ(builds, 1);
  const Stage c = cache.get("world", Json{{"k", 2}}, build);
  EXPECT_FALSE(c.cached);
  EXPECT_NE(c.key, a.key);
  EXPECT_NE(StageCache::key_of("world", Json{{"k", 1}}),
            StageCache::key_of("pretrain", Json{{"k", 1}}));
  EXPECT_EQ(builds, 2);
}

TEST_F(StageCacheTest, FailedBuildLeavesNothing) {
  StageCache cache(root_);
  EXPECT_THROW(cache.get("sft", Json{{"k", 3}},
                         [](const fs::path& dir) -> Json {
                           write_json_file(dir / "half.json", Json{{"v", 1}});
                           throw InputError("boom");
                         }),
               InputError);
  for (const auto& entry : fs::directory_iterator(root_))
    ADD_FAILURE() << "left behind: " << entry.path();
  int builds = 0;
  const Stage s = cache.get("sft", Json{{"k", 3}}, [&](const fs::path&) {
    ++builds;
    return Json::object();
  });
  EXPECT_FALSE(s.cached);
  EXPECT_EQ(builds, 1);
}

}  // namespace
}  // namespace masque::experiment
