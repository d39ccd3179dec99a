// Persona-vector recipes E7-E10 (docs/experiments.md "Persona-vector
// recipes"): the built-ins parse and share E4's pretraining; bad plans are
// refused naming the field; the claim statistics detect planted effects and
// not noise; --scale grows the measurement counts only; and each recipe's
// plumbing runs end to end at a tiny scale, with the positive control
// failing when the extracted vector is swapped for a random direction of the
// same norm.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/rng.h"
#include "experiment/builtin_recipes.h"
#include "experiment/recipe.h"
#include "experiment/runner.h"
#include "experiment/vector_claims.h"
#include "experiment/vector_plan.h"

namespace masque::experiment {
namespace {

namespace fs = std::filesystem;

Json builtin(const std::string& name) {
  const BuiltinRecipe* r = find_builtin(name);
  EXPECT_NE(r, nullptr) << name;
  return r ? r->recipe : Json();
}

TEST(VectorRecipes, BuiltinsParseAndShareE4Pretraining) {
  // E3 v1's and E4 v1's rho = 0.9 arm (the v1 world with requests).
  const Recipe e3 = Recipe::from_json(builtin("e4-v1"), "e4-v1");
  const Arm* rho09 = nullptr;
  for (const Arm& a : e3.arms) {
    if (a.name == "rho=0.9") rho09 = &a;
  }
  ASSERT_NE(rho09, nullptr);
  for (const char* name : {"e7", "e8", "e9", "e10"}) {
    const Recipe r = Recipe::from_json(builtin(name), name);
    ASSERT_FALSE(r.vectors.is_null()) << name;
    ASSERT_EQ(r.arms.size(), 1u);
    EXPECT_GE(r.seeds.size(), 3u) << name;
    // Same world and pretraining JSON: the same stage keys, one pretraining.
    EXPECT_EQ(r.arms[0].world.to_json(), rho09->world.to_json()) << name;
    EXPECT_EQ(r.arms[0].pretrain.to_json(), rho09->pretrain.to_json()) << name;
    EXPECT_EQ(r.vocab_size, e3.vocab_size);
    const VectorPlan plan = VectorPlan::from_json(r.vectors, r.vector_sft_defaults, name);
    bool has_check = false;
    for (const Json& c : plan.claims) has_check |= c.value("role", "") == "check";
    EXPECT_TRUE(has_check) << name << " needs a positive control";
  }
}

TEST(VectorRecipes, PlanRefusesBadFieldsAndUnknownMeasurements) {
  Json r = builtin("e7");
  auto error_of = [](const Json& recipe) {
    try {
      Recipe::from_json(recipe, "r");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Json bad = r;
  bad["vectors"]["claims"][0]["metric"] = "dose.kindnes";
  EXPECT_NE(error_of(bad).find("is not measured"), std::string::npos) << error_of(bad);
  EXPECT_NE(error_of(bad).find("separation.kindness"), std::string::npos) << "lists valid names";
  bad = r;
  bad["vectors"]["extract"]["source"] = "judge";
  EXPECT_NE(error_of(bad).find("source"), std::string::npos);
  bad = r;
  bad["vectors"]["bogus"] = 1;
  EXPECT_NE(error_of(bad).find("bogus"), std::string::npos);
  bad = r;
  bad["vectors"]["traits"] = {"charisma"};
  EXPECT_NE(error_of(bad).find("charisma"), std::string::npos);
  bad = builtin("e10");
  bad["vectors"]["e10"]["coefs"] = {1, 2};
  EXPECT_NE(error_of(bad).find("first coefficient must be 0"), std::string::npos);
  bad = builtin("e8");
  bad["vectors"]["traits"] = {"kindness"};
  bad["vectors"]["claims"] = Json::array();
  EXPECT_NE(error_of(bad).find("two traits"), std::string::npos);
  bad = r;
  bad["vectors"]["probes"]["split"] = "test";
  EXPECT_NE(error_of(bad).find("split"), std::string::npos) << error_of(bad);
}

TEST(VectorRecipes, ScaleGrowsTheMeasurementCountsOnly) {
  for (const char* name : {"e9", "e10"}) {
    const Json r = builtin(name);
    const Json s = scale_recipe(r, 2);
    const Json &v = r["vectors"], &sv = s["vectors"];
    const VectorPlan defaults;
    EXPECT_EQ(sv["extract"]["pairs"], 2 * v["extract"].value("pairs", defaults.pairs)) << name;
    EXPECT_EQ(sv["probes"]["count"], 2 * v["probes"].value("count", defaults.probe_count));
    if (v.contains("e9")) {
      EXPECT_EQ(sv["e9"]["examples"], 2 * v["e9"].value("examples", defaults.e9_examples));
      EXPECT_EQ(sv["e9"]["sets"], v["e9"]["sets"]) << "training sets are kept";
      EXPECT_EQ(sv["e9"]["sft"], v["e9"]["sft"]);
    }
    if (v.contains("e10")) {
      EXPECT_EQ(sv["e10"]["heldout"], 2 * v["e10"].value("heldout", defaults.e10_heldout));
      EXPECT_EQ(sv["e10"]["set"], v["e10"]["set"]);
    }
    EXPECT_EQ(sv["assistant"], v["assistant"]);
    EXPECT_EQ(sv["claims"], v["claims"]);
    EXPECT_NO_THROW(Recipe::from_json(s, name)) << "a scaled recipe still parses";
    EXPECT_EQ(scale_recipe(r, 1), r);
  }
}

TEST(VectorRecipes, ClaimStatisticsFindPlantedEffectsNotNoise) {
  Rng rng(5);
  std::vector<RunItems> correlated(3), noise(3), shifted(3), tiny(3);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 40; ++i) {
      const double x = rng.normal();
      correlated[s].x.push_back(x);
      correlated[s].y.push_back(x + 0.5 * rng.normal());
      noise[s].x.push_back(x);
      noise[s].y.push_back(rng.normal());
      shifted[s].values.push_back(1.0 + rng.normal());
      shifted[s].minus.push_back(shifted[s].values.back() - 0.5);  // paired: exactly +0.5
      tiny[s].values.push_back(0.001 * rng.normal());
    }
  }
  std::vector<double> per_run;
  const auto c = vector_claim_estimate("correlation", "spearman", correlated, 500, 1, &per_run);
  EXPECT_EQ(per_run.size(), 3u);
  EXPECT_EQ(vector_claim_verdict("correlation", c, 0), "appeared");
  EXPECT_GT(c.value, 0.7);
  EXPECT_EQ(vector_claim_verdict("correlation", c, 0, 0.95), "not detected") << "'above' bound";
  const auto n = vector_claim_estimate("correlation", "pearson", noise, 500, 1, nullptr);
  EXPECT_EQ(vector_claim_verdict("correlation", n, 0), "not detected");
  const auto g = vector_claim_estimate("greater", "", shifted, 500, 1, nullptr);
  EXPECT_NEAR(g.value, 0.5, 1e-9);
  EXPECT_NEAR(g.high - g.low, 0, 1e-9) << "paired items share resampled indices";
  const auto z = vector_claim_estimate("near_zero", "", tiny, 500, 1, nullptr);
  EXPECT_EQ(vector_claim_verdict("near_zero", z, 0.05), "appeared");
  EXPECT_EQ(vector_claim_verdict("positive", {NAN, NAN, NAN}, 0), "not detected");
}

// A built-in recipe at a tiny scale (seconds): one seed, a tiny world and
// pretraining, small sets and probe counts; claims kept as they are.
Json tiny(Json r) {
  r["seeds"] = {1};
  r["tokenizer"]["vocab_size"] = 400;
  r["world"] = Json::parse(R"json({"characters": 6, "ai_fraction": 0, "request_fraction": 0.2,
    "documents": {"story": 20, "dialogue": 20, "interview": 60, "news": 10, "ai_story": 0, "biography": 0},
    "biographies_per_character": 1, "eval_documents": 6})json");
  r["pretrain"] = Json::parse(
      R"json({"depth": 1, "batch_size": 4, "seq_len": 192, "steps": 12, "warmup_steps": 2})json");
  r["measure"]["e1"]["samples"] = 0;
  Json& v = r["vectors"];
  for (Json& s : v["assistant"]["sets"]) s["count"] = 8;
  v["assistant"]["sft"] = {{"steps", 3}, {"batch_size", 4}};
  v["extract"]["pairs"] = 6;
  v["probes"]["count"] = 6;
  v["coefs"] = {-1, 0, 1};
  v["levels"] = {-1, 0, 1};
  if (v.contains("e9")) {
    for (Json& s : v["e9"]["sets"]) s["set"]["count"] = 8;
    v["e9"]["sft"] = {{"steps", 2}, {"batch_size", 4}};
    v["e9"]["examples"] = 4;
  }
  if (v.contains("e10")) {
    v["e10"]["set"]["count"] = 8;
    v["e10"]["sft"] = {{"steps", 2}, {"batch_size", 4}};
    v["e10"]["coefs"] = {0, 1};
    v["e10"]["heldout"] = 4;
  }
  return r;
}

class TinyRuns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("masque_vector_recipes_" + std::to_string(::getpid()));
    fs::remove_all(root_);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static Json run(const Json& recipe, const std::string& out) {
    RunOptions o;
    o.out_dir = root_ / out;
    o.cache_dir = root_ / "cache";  // shared: one pretraining and Assistant for all
    o.bootstrap = 200;
    o.progress = false;
    return run_experiment(recipe, out, o);
  }
  static const Json* claim(const Json& results, const std::string& id) {
    for (const Json& c : results.at("claims")) {
      if (c.value("id", "") == id) return &c;
    }
    return nullptr;
  }
  static fs::path root_;
};
fs::path TinyRuns::root_;

TEST_F(TinyRuns, EachRecipeRunsEndToEnd) {
  for (const char* name : {"e7", "e8", "e9", "e10"}) {
    const Json recipe = tiny(builtin(name));
    const Json results = run(recipe, name);
    const std::size_t want = recipe["vectors"]["claims"].size();
    ASSERT_EQ(results.at("claims").size(), want) << name;
    for (const Json& c : results.at("claims")) {
      EXPECT_TRUE(c.value("vector_claim", false));
      const std::string v = c.value("verdict", "");
      EXPECT_TRUE(v == "appeared" || v == "not detected" || v == "opposite" || v == "violated")
          << name << " " << c.dump();
      EXPECT_FALSE(c.contains("note"))
          << name << ": every measurement must be present: " << c.dump();
    }
    const Json& run0 = results.at("runs").at(0).at("vectors");
    EXPECT_FALSE(run0.at("metrics").empty()) << name;
    // Which layer separates, on both phrase banks (the control's diagnosis).
    EXPECT_TRUE(run0.at("tables").contains("separation_by_layer.kindness")) << name;
    if (std::string(name) == "e10") {
      // Held-out losses on the training phrasings, prevented and steered.
      for (const char* m : {"task_loss_train.c=0", "task_loss_train.c=1", "general_loss_train.c=1",
                            "task_loss_train.inference=1", "general_loss_train.inference=1"})
        EXPECT_TRUE(run0.at("metrics").contains(m)) << m;
    }
    std::ifstream in(root_ / name / "report.md");
    const std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(md.find("## Persona vectors"), std::string::npos) << name;
  }
  // The shared cache: e8 reused e7's pretraining, Assistant and vectors.
  const Json again = run(tiny(builtin("e7")), "e7-again");
  const Json& stages = again.at("runs").at(0).at("vectors").at("stages");
  for (const auto& [what, s] : stages.items()) EXPECT_TRUE(s.value("cached", false)) << what;
}

TEST_F(TinyRuns, PositiveControlFailsWithARandomVector) {
  Json broken = tiny(builtin("e7"));
  broken["vectors"]["extract"]["control"] = "random";
  const Json results = run(broken, "e7-random");
  for (const char* id : {"vector_separates_kindness", "vector_separates_power_seeking"}) {
    const Json* c = claim(results, id);
    ASSERT_NE(c, nullptr) << id;
    EXPECT_NE(c->value("verdict", ""), "appeared")
        << "a random direction passed the control: " << c->dump();
  }
  EXPECT_NE(results.value("verdict", "").find("not passed"), std::string::npos)
      << results.value("verdict", "");
}

}  // namespace
}  // namespace masque::experiment
