// Report helpers: SVG charts parse as XML (checked with Python's xml parser
// when the interop venv exists, and by a tag-balance check always), are
// deterministic, escape text, and tables render as expected.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "report/markdown.h"
#include "report/svg.h"
#include "svg_check.h"

namespace masque::report {
namespace {

bool tags_balanced(const std::string& svg) { return masque::testing::svg_tags_balanced(svg); }

void expect_valid_xml(const std::string& svg, const std::string& name) {
  EXPECT_TRUE(tags_balanced(svg)) << name;
  EXPECT_EQ(svg.find("nan"), std::string::npos) << name;
  EXPECT_EQ(svg.find("inf"), std::string::npos) << name;
  const std::string python = std::string(MASQUE_SOURCE_DIR) + "/.venv/bin/python";
  // The test command always creates .venv; without it this check would pass
  // having checked nothing, so it fails instead.
  ASSERT_TRUE(std::filesystem::exists(python))
      << python << " is missing: run `bash scripts/quickstart.sh test` (it creates .venv)";
  const auto path = std::filesystem::temp_directory_path() / ("masque_report_" + name + ".svg");
  std::ofstream(path) << svg;
  const std::string command =
      python +
      " -c \"import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
      "sys.exit(0 if r.tag.endswith('svg') else 1)\" " +
      path.string();
  EXPECT_EQ(std::system(command.c_str()), 0) << name << " is not well-formed XML";
  std::filesystem::remove(path);
}

TEST(Svg, LineChartIsValidDeterministicAndEscaped) {
  LineChart chart;
  chart.title = "Loss <train> & \"val\"";
  chart.x_label = "step";
  chart.y_label = "loss";
  chart.series = {{"train", {0, 1, 2, 3}, {5, 4, NAN, 2}}, {"val", {0, 3}, {5.5, 2.5}}};
  chart.reference_y = 1.0;
  chart.reference_label = "floor";
  const std::string svg = render_svg(chart);
  EXPECT_EQ(svg, render_svg(chart));
  EXPECT_NE(svg.find("Loss &lt;train&gt; &amp; &quot;val&quot;"), std::string::npos);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  expect_valid_xml(svg, "line");
}

TEST(Svg, BarChartDrawsErrorBarsAndReferences) {
  BarChart chart;
  chart.title = "Agreement";
  chart.y_label = "accuracy";
  chart.bars = {{"honesty", 0.8, 0.7, 0.9, 0.5},
                {"kindness", 0.6, std::nullopt, std::nullopt, 0.55}};
  chart.y_min = 0;
  chart.y_max = 1;
  chart.reference_label = "chance";
  const std::string svg = render_svg(chart);
  int rects = 0;
  for (std::size_t p = 0; (p = svg.find("<rect", p)) != std::string::npos; ++p) ++rects;
  EXPECT_EQ(rects, 3);  // background + 2 bars
  EXPECT_NE(svg.find("chance"), std::string::npos);
  expect_valid_xml(svg, "bar");
}

TEST(Svg, HeatmapColorsCellsOverTheRange) {
  Heatmap chart;
  chart.title = "Confusion";
  chart.row_labels = {"a", "b"};
  chart.column_labels = {"a", "b"};
  chart.values = {{1, 0}, {0.25, 0.75}};
  chart.show_values = true;
  const std::string svg = render_svg(chart);
  EXPECT_NE(svg.find("#ffffff"), std::string::npos);  // the minimum is white
  EXPECT_NE(svg.find("#08306b"), std::string::npos);  // the maximum is dark blue
  expect_valid_xml(svg, "heatmap");
  expect_valid_xml(render_svg(Heatmap{}), "empty_heatmap");
}

TEST(Markdown, TablesAndNumbers) {
  EXPECT_EQ(markdown_table({"a", "b|c"}, {{"1", "2"}, {"3"}}),
            "| a | b\\|c |\n| --- | --- |\n| 1 | 2 |\n| 3 |  |\n");
  EXPECT_EQ(fixed(0.12345, 3), "0.123");
  EXPECT_EQ(fixed(-0.0001, 2), "0.00");
  EXPECT_EQ(fixed(NAN, 2), "n/a");
  EXPECT_EQ(percent(0.731, 1), "73.1%");
  EXPECT_EQ(with_interval(0.5, 0.25, 0.75, 2), "0.50 [0.25, 0.75]");
  EXPECT_EQ(text_table({"x", "value"}, {{"long name", "1"}}),
            "x          value\n----------------\nlong name      1\n");
}

}  // namespace
}  // namespace masque::report
