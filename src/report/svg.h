// Small, dependency-free SVG charts for reports (demo, experiments): a line
// chart, a bar chart with error bars and a heatmap (e.g. a confusion matrix).
// Output is deterministic (fixed number formatting, no timestamps) so reports
// diff cleanly, and valid standalone SVG 1.1 (checked by parsing in tests).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace masque::report {

struct LineSeries {
  std::string label;
  std::vector<double> x, y;  // same length; non-finite points are skipped
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  std::optional<double> reference_y;  // dashed horizontal line (e.g. chance)
  std::string reference_label;
  bool log_x = false;
};

struct Bar {
  std::string label;
  double value = 0;
  std::optional<double> low, high;  // error bar (e.g. bootstrap 95% CI)
  std::optional<double> reference;  // per-bar reference tick (e.g. chance)
};

struct BarChart {
  std::string title, y_label;
  std::vector<Bar> bars;
  std::optional<double> y_min, y_max;  // default: from the data (and 0)
  std::string reference_label;         // legend text for the reference ticks
};

struct Heatmap {
  std::string title, x_label, y_label;
  std::vector<std::string> row_labels, column_labels;
  std::vector<std::vector<double>> values;  // [row][column], colored over [min, max]
  bool show_values = false;                 // print each cell's value
};

std::string render_svg(const LineChart& chart);
std::string render_svg(const BarChart& chart);
std::string render_svg(const Heatmap& chart);

// XML text escaping (&, <, >, ", ').
std::string xml_escape(const std::string& text);

}  // namespace masque::report
