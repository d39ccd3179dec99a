// Experiment report: the verdict comes right after the prediction, every
// section is there, the SVG charts exist and parse, learning curves give
// "examples needed", and the same results give byte-identical files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../report/svg_check.h"
#include "core/atomic_file.h"
#include "experiment/analysis.h"
#include "experiment/experiment_report.h"
#include "synthetic_results.h"

namespace masque::experiment {
namespace {

namespace fs = std::filesystem;

bool tags_balanced(const std::string& svg) { return masque::testing::svg_tags_balanced(svg); }

void expect_valid_svg(const fs::path& path) {
  ASSERT_TRUE(fs::exists(path)) << path;
  const std::string svg = read_file(path);
  EXPECT_NE(svg.find("<svg"), std::string::npos) << path;
  EXPECT_TRUE(tags_balanced(svg)) << path;
  EXPECT_EQ(svg.find("nan"), std::string::npos) << path;
  const std::string python = std::string(MASQUE_SOURCE_DIR) + "/.venv/bin/python";
  if (!fs::exists(python)) return;
  const std::string command =
      python +
      " -c \"import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
      "sys.exit(0 if r.tag.endswith('svg') else 1)\" " +
      path.string();
  EXPECT_EQ(std::system(command.c_str()), 0) << path << " is not well-formed XML";
}

fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("masque_experiment_report_" + name);
  fs::remove_all(dir);
  return dir;
}

Json analyzed_results() {
  testing::Planted p;
  p.slope = 0.4;
  p.offset = 0.05;
  p.noise = 0.25;
  Json r = testing::planted_results(
      p, {testing::claim("b_rises_with_rho", "increases"),
          testing::claim("flat_at_zero", "near_zero", {{"arms", {"rho=0"}}, {"tolerance", 0.02}})});
  analyze_results(r, 300, 1);
  return r;
}

TEST(ExperimentReport, WritesVerdictSectionsAndCharts) {
  const Json results = analyzed_results();
  const fs::path dir = temp_dir("sections");
  const fs::path report = write_experiment_report(results, dir);
  EXPECT_EQ(report, dir / "report.md");
  const std::string md = read_file(report);
  const std::string verdict = results.at("verdict");
  EXPECT_EQ(verdict.rfind("Partly:", 0), 0u)
      << verdict;  // the slope appears; 0.05 at rho=0 is not within 0.02
  const std::size_t prediction = md.find("## What PSM predicts");
  const std::size_t verdict_at = md.find("## Verdict\n\n**" + verdict + "**");
  ASSERT_NE(prediction, std::string::npos);
  ASSERT_NE(verdict_at, std::string::npos) << md;
  EXPECT_LT(prediction, verdict_at);
  for (const char* section :
       {"# e3: Narrow to broad", "**Question.** Does teaching A bring B along?", "## Claims",
        "### b_rises_with_rho", "Slope of the effect against x",
        "## Did the base model learn the world?", "## Measurements", "### ρ = 1",
        "## Learning curves", "## Sample replies", "## Setup and reproducibility", "## Caveats",
        "masque experiment run e3 --out x", "80.0% (chance 55.0%)", "| pk01 |",
        "likelihood preferences"}) {
    EXPECT_NE(md.find(section), std::string::npos) << "missing: " << section;
  }
  EXPECT_LT(verdict_at, md.find("## Claims"));
  // The base model of arm 0 has no E1: "n/a" in its row.
  EXPECT_NE(md.find("| ρ = 0 | 3 | 300 | 614400 | 2.250 | 2.500 | n/a | n/a |"), std::string::npos)
      << md;
  // Sample replies: up to three, fences inside replies neutralized.
  EXPECT_NE(md.find("Sure '''code'''"), std::string::npos);
  EXPECT_EQ(md.find("Maybe."), std::string::npos);
  // Examples needed: familiar reaches 0.5 at x = 64, novel never.
  EXPECT_NE(md.find("| familiar (ρ = 0) | 64 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| novel (ρ = 0) | not reached |"), std::string::npos) << md;
  for (const char* svg : {"claim_b_rises_with_rho.svg", "claim_flat_at_zero.svg",
                          "curve_in_domain_1.svg", "curve_in_domain_3.svg"}) {
    expect_valid_svg(dir / svg);
    EXPECT_NE(md.find(std::string("](") + svg + ")"), std::string::npos) << svg;
  }
  fs::remove_all(dir);
}

TEST(ExperimentReport, RecipeNotesFollowTheVerdict) {
  Json results = analyzed_results();
  const fs::path dir = temp_dir("notes");
  std::string md = read_file(write_experiment_report(results, dir));
  EXPECT_EQ(md.find("**Notes.**"), std::string::npos) << "no notes, no section";
  results["notes"] = "The control passes only at --scale 2.";
  md = read_file(write_experiment_report(results, dir));
  const std::size_t notes = md.find("**Notes.** The control passes only at --scale 2.");
  ASSERT_NE(notes, std::string::npos) << md;
  EXPECT_LT(md.find("## Verdict"), notes);
  EXPECT_LT(notes, md.find("## Claims"));
  fs::remove_all(dir);
}

TEST(ExperimentReport, SameResultsGiveIdenticalFiles) {
  const Json results = analyzed_results();
  const fs::path a = temp_dir("a"), b = temp_dir("b");
  write_experiment_report(results, a);
  write_experiment_report(parse_json(results.dump(), "results"), b);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(a)) {
    EXPECT_EQ(read_file(entry.path()), read_file(b / entry.path().filename()))
        << entry.path().filename();
    ++files;
  }
  EXPECT_EQ(files, 6);  // report.md, two claim charts, one curve chart per arm
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(ExperimentReport, AnalyzesUnanalyzedResults) {
  testing::Planted p;
  p.offset = 0.25;
  p.inoculated_fraction = 1.0;
  const Json raw = testing::planted_results(
      p, {testing::claim("shift", "positive", {{"treatment", "inoculated"}})});
  const fs::path dir = temp_dir("raw");
  const std::string md = read_file(write_experiment_report(raw, dir));
  EXPECT_NE(md.find("The effect PSM predicts appeared: all 1 prediction held"), std::string::npos)
      << md;
  EXPECT_NE(md.find("0.250 [0.250, 0.250]"), std::string::npos);
  fs::remove_all(dir);
  EXPECT_EQ(file_safe("a b/c"), "a_b_c");
}

}  // namespace
}  // namespace masque::experiment
