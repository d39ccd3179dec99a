// E1 report: every file is written, the verdict follows the intervals, and
// the summary table lists each context length.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "persona/e1_report.h"

namespace masque::persona {
namespace {

PersonaEvalResult fake_result(double trait_low, double speaker_low) {
  PersonaEvalResult r;
  r.characters = {0, 1};
  r.samples = 2;
  for (int turns : {0, 2}) {
    ContextResult ctx;
    ctx.turns = turns;
    for (Trait t : world::kAllTraits) {
      TraitAgreement a;
      a.trait = t;
      a.sign_accuracy = {0.8, 0.7, 0.9};
      a.correlation = {0.5, 0.2, 0.7};
      a.chance = 0.5;
      a.characters = 2;
      a.coverage = 1;
      ctx.traits.push_back(a);
    }
    ctx.mean_sign_accuracy = {0.8, trait_low, 0.9};
    ctx.mean_chance = 0.55;
    ctx.speaker_accuracy = {0.5, speaker_low, 0.7};
    ctx.speaker_chance = 0.5;
    ctx.confusion = {{2, 0, 0}, {1, 1, 0}};
    ctx.expressed = {std::array<double, kNumTraits>{}, std::array<double, kNumTraits>{}};
    r.contexts.push_back(ctx);
  }
  r.example_prompts = {"Interview with A.\nInterviewer: Q?\nA:"};
  r.example_responses = {" Silver tides! Hey."};
  return r;
}

TEST(E1Report, WritesAllFilesAndAnHonestVerdict) {
  const auto dir = std::filesystem::temp_directory_path() / "masque_e1_report_test";
  std::filesystem::remove_all(dir);
  world::WorldSpec spec;
  spec.characters = 2;
  const world::World w = world::World::build(spec, 1);
  const PersonaEvalResult good = fake_result(0.6, 0.55);
  E1ReportInputs in;
  in.world = &w;
  in.eval = &good;
  in.train_curve = {{1, 5.0f}, {2, 4.0f}};
  in.setup = {{"model", "tiny"}};
  write_e1_report(in, dir);
  for (const char* f :
       {"report.md", "loss.svg", "traits.svg", "speakers.svg", "sharpening.svg", "e1.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
  }
  const std::string md = read_file(dir / "report.md");
  EXPECT_NE(md.find("persona acquisition is clearly above chance"), std::string::npos);
  EXPECT_NE(md.find("| model | tiny |"), std::string::npos);
  EXPECT_TRUE(above_chance(good));
  // Speaker interval touching chance: not "clearly above".
  EXPECT_FALSE(above_chance(fake_result(0.6, 0.5)));
  EXPECT_FALSE(above_chance(fake_result(0.5, 0.55)));
  const std::string table = e1_summary_table(good);
  EXPECT_NE(table.find("80.0% [60.0%, 90.0%]"), std::string::npos) << table;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace masque::persona
