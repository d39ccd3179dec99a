// Persona-vector recipes E7-E10 (docs/experiments.md "Persona-vector
// recipes"): the built-ins parse and share E4's pretraining; bad plans are
// refused naming the field; the claim statistics detect planted effects and
// not noise; --scale grows the measurement counts only; and each recipe's
// plumbing runs end to end at a tiny scale, with the positive control
// failing when the extracted vector is swapped for a random direction of the
// same norm.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/rng.h"
#include "experiment/analysis.h"
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

// The InputError a recipe is refused with, or "no error".
std::string vector_recipe_refusal(const Json& recipe) {
  try {
    Recipe::from_json(recipe, "r");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
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
  Json bad = r;
  bad["vectors"]["claims"][0]["metric"] = "dose.kindnes";
  EXPECT_NE(vector_recipe_refusal(bad).find("is not measured"), std::string::npos)
      << vector_recipe_refusal(bad);
  EXPECT_NE(vector_recipe_refusal(bad).find("separation.kindness"), std::string::npos)
      << "lists valid names";
  bad = r;
  bad["vectors"]["extract"]["source"] = "judge";
  EXPECT_NE(vector_recipe_refusal(bad).find("source"), std::string::npos);
  bad = r;
  bad["vectors"]["bogus"] = 1;
  EXPECT_NE(vector_recipe_refusal(bad).find("bogus"), std::string::npos);
  bad = r;
  bad["vectors"]["traits"] = {"charisma"};
  EXPECT_NE(vector_recipe_refusal(bad).find("charisma"), std::string::npos);
  bad = builtin("e10");
  bad["vectors"]["e10"]["coefs"] = {1, 2};
  EXPECT_NE(vector_recipe_refusal(bad).find("first coefficient must be 0"), std::string::npos);
  bad = builtin("e8");
  bad["vectors"]["traits"] = {"kindness"};
  bad["vectors"]["claims"] = Json::array();
  EXPECT_NE(vector_recipe_refusal(bad).find("two traits"), std::string::npos);
  bad = r;
  bad["vectors"]["probes"]["split"] = "test";
  EXPECT_NE(vector_recipe_refusal(bad).find("split"), std::string::npos)
      << vector_recipe_refusal(bad);
  // The held-out generated control exists only for generated vectors.
  bad = r;
  bad["vectors"]["claims"][0]["metric"] = "separation_generated.kindness";
  EXPECT_NE(vector_recipe_refusal(bad).find("is not measured"), std::string::npos)
      << vector_recipe_refusal(bad);
  bad["vectors"]["extract"]["source"] = "generated";
  EXPECT_EQ(vector_recipe_refusal(bad), "no error");
  bad = r;
  bad["vectors"]["random_directions"] = -1;
  EXPECT_NE(vector_recipe_refusal(bad).find("random_directions"), std::string::npos)
      << vector_recipe_refusal(bad);
}

// As the recipe claims (docs/experiments.md "Minimum effect"): a vector check
// must state the smallest effect that makes it a working control; 'above'
// (its former name) is refused with the rename.
TEST(VectorRecipes, ChecksMustStateAMinimum) {
  for (const char* name : {"e7", "e8", "e9", "e10"}) {
    // Bound first: a range-for over a member of the temporary would read freed memory.
    const Json recipe = builtin(name);
    for (const Json& c : recipe["vectors"]["claims"]) {
      if (c.value("role", "") == "check" && c.value("kind", "") != "near_zero") {
        EXPECT_GT(c.value("minimum", 0.0), 0) << name << " " << c.dump();
      }
    }
  }
  Json bad = builtin("e9");
  Json& check = bad["vectors"]["claims"][1];
  ASSERT_EQ(check.value("id", ""), "sets_differ");
  check.erase("minimum");
  EXPECT_NE(vector_recipe_refusal(bad).find("must state field 'minimum'"), std::string::npos)
      << vector_recipe_refusal(bad);
  EXPECT_NE(vector_recipe_refusal(bad).find("sets_differ"), std::string::npos) << "names the claim";
  check["above"] = 1.0;
  EXPECT_NE(vector_recipe_refusal(bad).find("'above' is now 'minimum'"), std::string::npos)
      << vector_recipe_refusal(bad);
  check.erase("above");
  check["minimum"] = -1;
  EXPECT_NE(vector_recipe_refusal(bad).find(">= 0"), std::string::npos)
      << vector_recipe_refusal(bad);
  check["minimum"] = 0.5;
  EXPECT_EQ(vector_recipe_refusal(bad), "no error");
  check["role"] = "prediction";  // predictions default to 0 (their question is the sign)
  check.erase("minimum");
  EXPECT_EQ(vector_recipe_refusal(bad), "no error");
}

// A real but tiny effect: its interval excludes 0, a check with minimum 0.5 is
// "too small", not "appeared"; the minimum is reported in results.
TEST(VectorRecipes, TinyEffectIsTooSmallForAMinimum) {
  Rng rng(11);
  std::vector<RunItems> runs(3);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 40; ++i) runs[s].values.push_back(0.05 + 0.01 * rng.normal());
  }
  const auto e = vector_claim_estimate("positive", "", runs, 500, 1, nullptr);
  ASSERT_GT(e.low, 0);
  EXPECT_EQ(vector_claim_verdict("positive", e, 0), "appeared");
  EXPECT_EQ(vector_claim_verdict("positive", e, 0, 0.5), "too small");
  EXPECT_EQ(vector_claim_verdict("greater", e, 0, 0.5), "too small");
  const persona::Interval wrong{-0.05, -0.08, -0.02};
  EXPECT_EQ(vector_claim_verdict("positive", wrong, 0, 0.5), "opposite");

  // Through analyze_vector_claims: a check with a minimum, on planted items.
  Json results = {{"recipe", {{"vectors", {{"claims", Json::array()}}}}},
                  {"arms", Json::array({{{"name", "a"}, {"x", 0}}})},
                  {"runs", Json::array()}};
  results["recipe"]["vectors"]["claims"].push_back(
      {{"id", "c"}, {"role", "check"}, {"kind", "positive"}, {"metric", "m"}, {"minimum", 0.5}});
  for (int s = 0; s < 3; ++s) {
    results["runs"].push_back(
        {{"arm", "a"}, {"seed", s + 1}, {"vectors", {{"metrics", {{"m", runs[s].values}}}}}});
  }
  analyze_vector_claims(results, 500);
  const Json& c = results["claims"][0];
  EXPECT_EQ(c.value("verdict", ""), "too small") << c.dump();
  EXPECT_EQ(c.value("minimum", 0.0), 0.5);
  EXPECT_NE(results.value("verdict", "").find("not passed"), std::string::npos)
      << "a too-small check is not passed: " << results.value("verdict", "");
}

// As the recipe claims (docs/experiments.md "Metrics and claims"): a
// prediction whose check failed is "not read" (verdict_if_read keeps what it
// would have been); `requires` narrows the checks a prediction relies on.
TEST(VectorRecipes, PredictionsAreNotReadWhenTheirCheckFails) {
  Rng rng(5);
  Json results = {{"recipe", {{"vectors", {{"claims", Json::array()}}}}},
                  {"arms", Json::array({{{"name", "a"}, {"x", 0}}})},
                  {"runs", Json::array()}};
  Json& specs = results["recipe"]["vectors"]["claims"];
  // A check whose effect is real but below its minimum (fails), one that
  // passes, and two predictions on a strong effect.
  specs.push_back({{"id", "weak_control"},
                   {"role", "check"},
                   {"kind", "positive"},
                   {"metric", "weak"},
                   {"minimum", 0.5}});
  specs.push_back({{"id", "strong_control"},
                   {"role", "check"},
                   {"kind", "positive"},
                   {"metric", "strong"},
                   {"minimum", 0.2}});
  specs.push_back({{"id", "needs_all"}, {"kind", "positive"}, {"metric", "strong"}});
  specs.push_back({{"id", "needs_strong"},
                   {"kind", "positive"},
                   {"metric", "strong"},
                   {"requires", {"strong_control"}}});
  for (int s = 0; s < 3; ++s) {
    std::vector<double> weak, strong;
    for (int i = 0; i < 40; ++i) {
      weak.push_back(0.05 + 0.01 * rng.normal());
      strong.push_back(1.0 + 0.1 * rng.normal());
    }
    results["runs"].push_back({{"arm", "a"},
                               {"seed", s + 1},
                               {"vectors", {{"metrics", {{"weak", weak}, {"strong", strong}}}}}});
  }
  analyze_vector_claims(results, 500);
  auto find = [&](const std::string& id) {
    for (const Json& c : results["claims"]) {
      if (c.value("id", "") == id) return c;
    }
    return Json();
  };
  EXPECT_EQ(find("weak_control").value("verdict", ""), "too small");
  EXPECT_EQ(find("strong_control").value("verdict", ""), "appeared");
  const Json all = find("needs_all");
  EXPECT_EQ(all.value("verdict", ""), "not read") << all.dump();
  EXPECT_EQ(all.value("verdict_if_read", ""), "appeared") << all.dump();
  ASSERT_TRUE(all.contains("not_read_because")) << all.dump();
  EXPECT_EQ(all["not_read_because"], Json::array({"check 'weak_control' failed"}));
  const Json strong = find("needs_strong");
  EXPECT_EQ(strong.value("verdict", ""), "appeared") << strong.dump();
  EXPECT_EQ(strong["requires"], Json::array({"strong_control"}));
  EXPECT_FALSE(strong.contains("not_read_because"));
  const std::string verdict = results.value("verdict", "");
  EXPECT_NE(verdict.find("Not read: 'needs_all'"), std::string::npos) << verdict;
  EXPECT_NE(verdict.find("Partly: 1 of 2"), std::string::npos) << verdict;

  // The report says it too, with what the verdict would have been.
  const fs::path dir =
      fs::temp_directory_path() / ("masque_vector_not_read_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  append_vector_report(results, dir);
  std::ifstream in(dir / "report.md");
  const std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(dir);
  EXPECT_NE(md.find("not read (check 'weak_control' failed; read anyway: appeared)"),
            std::string::npos)
      << md;
}

// `requires` names checks of the same vectors section (before or after the
// prediction); anything else is refused naming the claim and the valid ids.
TEST(VectorRecipes, RequiresMustNameVectorChecks) {
  Json r = builtin("e9");
  Json& claims = r["vectors"]["claims"];
  Json& prediction = claims[2];
  ASSERT_EQ(prediction.value("id", ""), "screen_spearman");
  prediction["requires"] = {"sets_differ"};
  EXPECT_EQ(vector_recipe_refusal(r), "no error");
  prediction["requires"] = {"no_such_check"};
  std::string e = vector_recipe_refusal(r);
  EXPECT_NE(e.find("'requires' names 'no_such_check'"), std::string::npos) << e;
  EXPECT_NE(e.find("screen_spearman"), std::string::npos) << "names the claim: " << e;
  EXPECT_NE(e.find("valid: sets_differ, vector_separates_kindness"), std::string::npos) << e;
  prediction["requires"] = {"screen_pearson"};  // a prediction, not a check
  e = vector_recipe_refusal(r);
  EXPECT_NE(e.find("'requires' names 'screen_pearson'"), std::string::npos) << e;
  prediction["requires"] = "sets_differ";
  EXPECT_NE(vector_recipe_refusal(r).find("must be an array"), std::string::npos)
      << vector_recipe_refusal(r);
  prediction.erase("requires");
  claims[1]["requires"] = {"vector_separates_kindness"};  // on a check
  EXPECT_NE(vector_recipe_refusal(r).find("checks are always read"), std::string::npos)
      << vector_recipe_refusal(r);
}

// The report's tables average numeric cells over runs by row; the first
// column labels the row. The dose tables' label is each run's best layer,
// which may differ: the report lists every run's, not run 1's.
TEST(VectorRecipes, ReportTablesShowEachRunsLayer) {
  Json results = {{"recipe", {{"vectors", {{"claims", Json::array()}}}}},
                  {"claims", Json::array()},
                  {"runs", Json::array()}};
  const std::vector<int> best = {2, 1, 2};
  for (int s = 0; s < 3; ++s) {
    Json dose = {{"columns", {"layer", "coefficient", "mean Δ (nats)"}},
                 {"rows", {{best[s], -1, -0.1 * (s + 1)}, {best[s], 1, 0.1 * (s + 1)}}}};
    Json cosine = {{"columns", {"layer", "cos(base, assistant)"}}, {"rows", {{1, 0.5}, {2, 0.7}}}};
    results["runs"].push_back(
        {{"arm", "a"},
         {"seed", s + 1},
         {"vectors", {{"tables", {{"dose.kindness", dose}, {"cosine.kindness", cosine}}}}}});
  }
  const fs::path dir =
      fs::temp_directory_path() / ("masque_vector_tables_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  append_vector_report(results, dir);
  std::ifstream in(dir / "report.md");
  const std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(dir);
  const std::size_t dose = md.find("### dose.kindness");
  const std::size_t cosine = md.find("### cosine.kindness");
  ASSERT_NE(dose, std::string::npos) << md;
  ASSERT_NE(cosine, std::string::npos) << md;
  const std::string dose_md = md.substr(dose), cosine_md = md.substr(cosine, dose - cosine);
  EXPECT_NE(dose_md.find("layer (per run)"), std::string::npos) << dose_md;
  EXPECT_NE(dose_md.find("| 2, 1, 2 |"), std::string::npos) << dose_md;
  EXPECT_NE(dose_md.find("| 0.200 |"), std::string::npos) << "numbers are means: " << dose_md;
  // Per-layer tables: the same label in every run, shown once.
  EXPECT_EQ(cosine_md.find("per run"), std::string::npos) << cosine_md;
  EXPECT_NE(cosine_md.find("| 1 |"), std::string::npos) << cosine_md;
}

// With few runs the run-level percentile interval is widened as the recipe
// claims' are (sqrt(n/(n-1)) t(n-1)/z around the estimate; 3 runs: x2.69).
TEST(VectorRecipes, FewRunsWidenTheInterval) {
  Rng rng(3);
  std::vector<RunItems> runs(3);
  for (int s = 0; s < 3; ++s) {
    const double seed_effect = 0.3 * rng.normal();
    for (int i = 0; i < 30; ++i) runs[s].values.push_back(1.0 + seed_effect + rng.normal());
  }
  const auto plain = vector_claim_estimate("positive", "", runs, 2000, 9, nullptr, false);
  const auto wide = vector_claim_estimate("positive", "", runs, 2000, 9, nullptr);
  EXPECT_DOUBLE_EQ(plain.value, wide.value);
  const double k = std::sqrt(1.5) * student_t_quantile(2, 0.95) / 1.959964;
  EXPECT_NEAR(wide.value - wide.low, k * (plain.value - plain.low), 1e-9);
  EXPECT_NEAR(wide.high - wide.value, k * (plain.high - plain.value), 1e-9);
  // One run: no run-level variance to widen.
  const std::vector<RunItems> one(runs.begin(), runs.begin() + 1);
  const auto a = vector_claim_estimate("positive", "", one, 500, 9, nullptr, false);
  const auto b = vector_claim_estimate("positive", "", one, 500, 9, nullptr);
  EXPECT_DOUBLE_EQ(a.low, b.low);
  // A correlation's interval stays inside [-1, 1].
  std::vector<RunItems> corr(3);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 12; ++i) {
      corr[s].x.push_back(i);
      corr[s].y.push_back(i + (s == 0 ? 8.0 : 1.0) * rng.normal());
    }
  }
  const auto c = vector_claim_estimate("correlation", "pearson", corr, 500, 9, nullptr);
  EXPECT_LE(c.high, 1.0);
  EXPECT_GE(c.low, -1.0);
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
  EXPECT_EQ(vector_claim_verdict("correlation", c, 0, 0.95), "too small") << "minimum effect";
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
  v["random_directions"] = 2;
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
      // A tiny model's checks may fail: its predictions are then not read.
      const std::string read = v == "not read" ? c.value("verdict_if_read", "") : v;
      EXPECT_TRUE(read == "appeared" || read == "too small" || read == "not detected" ||
                  read == "opposite" || read == "violated")
          << name << " " << c.dump();
      EXPECT_EQ(v == "not read", c.contains("not_read_because")) << name << " " << c.dump();
      EXPECT_FALSE(c.contains("note"))
          << name << ": every measurement must be present: " << c.dump();
    }
    const Json& run0 = results.at("runs").at(0).at("vectors");
    EXPECT_FALSE(run0.at("metrics").empty()) << name;
    // Which layer separates, on both phrase banks (the control's diagnosis).
    EXPECT_TRUE(run0.at("tables").contains("separation_by_layer.kindness")) << name;
    if (std::string(name) == "e7" || std::string(name) == "e8") {
      // The dose-response's random-direction baseline: per probe, oriented
      // so each random direction's mean slope is >= 0.
      for (const std::string t : {"kindness", "power_seeking"}) {
        const Json& m = run0.at("metrics");
        ASSERT_TRUE(m.contains("dose_slope." + t)) << name;
        ASSERT_TRUE(m.contains("dose_slope_random." + t)) << name;
        EXPECT_EQ(m["dose_slope." + t].size(), m["dose_slope_random." + t].size());
        double mean = 0;
        for (double x : m["dose_slope_random." + t].get<std::vector<double>>())
          mean += x / double(m["dose_slope_random." + t].size());
        EXPECT_GE(mean, 0) << "oriented random slopes favour the trait";
        const Json& table = run0.at("tables").at("dose_slope." + t);
        EXPECT_EQ(table.at("rows").size(), 1u + recipe["vectors"].value("random_directions", 4));
      }
    }
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
  // Every E7 prediction relies on every check (the built-ins state no
  // `requires`): with the control failed, none is read.
  int predictions = 0;
  for (const Json& c : results.at("claims")) {
    if (c.value("role", "") == "check") continue;
    ++predictions;
    EXPECT_EQ(c.value("verdict", ""), "not read") << c.dump();
    EXPECT_NE(c.value("not_read_because", Json::array()).dump().find("vector_separates_"),
              std::string::npos)
        << c.dump();
  }
  EXPECT_GT(predictions, 0);
  EXPECT_NE(results.value("verdict", "").find("No prediction can be read"), std::string::npos)
      << results.value("verdict", "");
}

}  // namespace
}  // namespace masque::experiment
