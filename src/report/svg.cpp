// SVG chart rendering (see svg.h). Plain string building: a fixed canvas,
// "nice" axis ticks, a small palette, and text escaped for XML.
#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace masque::report {
namespace {

constexpr double kWidth = 640, kHeight = 400;
constexpr double kLeft = 72, kRight = 24, kTop = 44, kBottom = 72;
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c",
                                    "#ff7f0e", "#9467bd", "#8c564b"};

std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

std::string tick_label(double v) {
  char buffer[32];
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3))
    std::snprintf(buffer, sizeof buffer, "%.1e", v);
  else if (a >= 100 || v == std::round(v))
    std::snprintf(buffer, sizeof buffer, "%.0f", v);
  else
    std::snprintf(buffer, sizeof buffer, "%.2g", v);
  return buffer;
}

// Up to ~6 ticks at 1/2/5 x 10^k steps covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) {
    ticks.push_back(std::fabs(t) < 1e-12 * step ? 0.0 : t);
  }
  return ticks;
}

struct Frame {
  double x0, x1, y0, y1;
  bool log_x = false;
  double px(double x) const {
    if (log_x) x = std::log10(std::max(x, 1e-12));
    const double a = log_x ? std::log10(std::max(x0, 1e-12)) : x0;
    const double b = log_x ? std::log10(std::max(x1, 1e-12)) : x1;
    return kLeft + (x - a) / (b - a) * (kWidth - kLeft - kRight);
  }
  double py(double y) const {
    return kHeight - kBottom - (y - y0) / (y1 - y0) * (kHeight - kTop - kBottom);
  }
};

void open_svg(std::string& out, const std::string& title) {
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + num(kWidth) +
         "\" height=\"" + num(kHeight) + "\" viewBox=\"0 0 " + num(kWidth) + " " + num(kHeight) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out += "<rect x=\"0\" y=\"0\" width=\"" + num(kWidth) + "\" height=\"" + num(kHeight) +
         "\" fill=\"white\"/>\n";
  out += "<text x=\"" + num(kWidth / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" +
         xml_escape(title) + "</text>\n";
}

void text(std::string& out, double x, double y, const std::string& s, const char* anchor = "middle",
          const std::string& extra = "") {
  out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\"" + extra +
         ">" + xml_escape(s) + "</text>\n";
}

void line(std::string& out, double x1, double y1, double x2, double y2, const std::string& style) {
  out += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
         num(y2) + "\" " + style + "/>\n";
}

void y_axis(std::string& out, const Frame& f, const std::string& label) {
  for (double t : nice_ticks(f.y0, f.y1)) {
    if (t < f.y0 - 1e-9 || t > f.y1 + 1e-9) continue;
    line(out, kLeft, f.py(t), kWidth - kRight, f.py(t), "stroke=\"#e5e5e5\"");
    text(out, kLeft - 6, f.py(t) + 4, tick_label(t), "end");
  }
  line(out, kLeft, kTop, kLeft, kHeight - kBottom, "stroke=\"black\"");
  const double cy = (kTop + kHeight - kBottom) / 2;
  text(out, 18, cy, label, "middle", " transform=\"rotate(-90 18 " + num(cy) + ")\"");
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(ch) >= 0x20 || ch == '\n' || ch == '\t') out += ch;
    }
  }
  return out;
}

std::string render_svg(const LineChart& chart) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : chart.series) {
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (chart.log_x && s.x[i] <= 0))
        continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  }
  if (chart.reference_y)
    y0 = std::min(y0, *chart.reference_y), y1 = std::max(y1, *chart.reference_y);
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double pad = 0.05 * (y1 - y0);
  Frame f{x0, x1, y0 - pad, y1 + pad, chart.log_x};
  std::string out;
  open_svg(out, chart.title);
  y_axis(out, f, chart.y_label);
  line(out, kLeft, kHeight - kBottom, kWidth - kRight, kHeight - kBottom, "stroke=\"black\"");
  if (!chart.log_x) {
    for (double t : nice_ticks(x0, x1)) {
      if (t < x0 - 1e-9 || t > x1 + 1e-9) continue;
      text(out, f.px(t), kHeight - kBottom + 16, tick_label(t));
    }
  } else {
    for (double t = std::pow(10.0, std::floor(std::log10(x0))); t <= x1 * 1.0001; t *= 10) {
      if (t >= x0 * 0.9999) text(out, f.px(t), kHeight - kBottom + 16, tick_label(t));
    }
  }
  text(out, (kLeft + kWidth - kRight) / 2, kHeight - kBottom + 36, chart.x_label);
  if (chart.reference_y) {
    line(out, kLeft, f.py(*chart.reference_y), kWidth - kRight, f.py(*chart.reference_y),
         "stroke=\"#555\" stroke-dasharray=\"5,4\"");
    text(out, kWidth - kRight - 4, f.py(*chart.reference_y) - 4, chart.reference_label, "end",
         " fill=\"#555\"");
  }
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const auto& series = chart.series[s];
    const char* color = kPalette[s % 6];
    std::string points;
    std::size_t count = 0;
    for (std::size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
      if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i]) ||
          (chart.log_x && series.x[i] <= 0))
        continue;
      points += (count++ ? " " : "") + num(f.px(series.x[i])) + "," + num(f.py(series.y[i]));
    }
    if (count > 1) {
      out += "<polyline fill=\"none\" stroke=\"" + std::string(color) +
             "\" stroke-width=\"1.8\" points=\"" + points + "\"/>\n";
    }
    if (count <= 12) {
      for (std::size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
        if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) continue;
        out += "<circle cx=\"" + num(f.px(series.x[i])) + "\" cy=\"" + num(f.py(series.y[i])) +
               "\" r=\"3\" fill=\"" + color + "\"/>\n";
      }
    }
    // Legend, bottom row.
    const double lx = kLeft + 150.0 * double(s);
    line(out, lx, kHeight - 14, lx + 18, kHeight - 14,
         "stroke=\"" + std::string(color) + "\" stroke-width=\"3\"");
    text(out, lx + 24, kHeight - 10, series.label, "start");
  }
  out += "</svg>\n";
  return out;
}

std::string render_svg(const BarChart& chart) {
  double y0 = 0, y1 = 0;
  for (const auto& b : chart.bars) {
    for (auto v : {std::optional<double>(b.value), b.low, b.high, b.reference}) {
      if (v && std::isfinite(*v)) y0 = std::min(y0, *v), y1 = std::max(y1, *v);
    }
  }
  if (chart.y_min) y0 = *chart.y_min;
  if (chart.y_max) y1 = *chart.y_max;
  if (y1 <= y0) y1 = y0 + 1;
  Frame f{0, 1, y0, y1};
  std::string out;
  open_svg(out, chart.title);
  y_axis(out, f, chart.y_label);
  line(out, kLeft, f.py(std::clamp(0.0, y0, y1)), kWidth - kRight, f.py(std::clamp(0.0, y0, y1)),
       "stroke=\"black\"");
  const double slot =
      (kWidth - kLeft - kRight) / double(std::max<std::size_t>(1, chart.bars.size()));
  bool any_reference = false;
  for (std::size_t i = 0; i < chart.bars.size(); ++i) {
    const Bar& b = chart.bars[i];
    const double cx = kLeft + slot * (double(i) + 0.5);
    const double w = slot * 0.6;
    const double value = std::isfinite(b.value) ? std::clamp(b.value, y0, y1) : 0.0;
    const double top = f.py(std::max(value, std::clamp(0.0, y0, y1)));
    const double bottom = f.py(std::min(value, std::clamp(0.0, y0, y1)));
    out += "<rect x=\"" + num(cx - w / 2) + "\" y=\"" + num(top) + "\" width=\"" + num(w) +
           "\" height=\"" + num(std::max(0.0, bottom - top)) + "\" fill=\"" + kPalette[0] +
           "\" fill-opacity=\"0.8\"/>\n";
    if (b.low && b.high && std::isfinite(*b.low) && std::isfinite(*b.high)) {
      const double lo = f.py(std::clamp(*b.low, y0, y1)), hi = f.py(std::clamp(*b.high, y0, y1));
      line(out, cx, lo, cx, hi, "stroke=\"black\" stroke-width=\"1.5\"");
      line(out, cx - 6, lo, cx + 6, lo, "stroke=\"black\" stroke-width=\"1.5\"");
      line(out, cx - 6, hi, cx + 6, hi, "stroke=\"black\" stroke-width=\"1.5\"");
    }
    if (b.reference && std::isfinite(*b.reference)) {
      any_reference = true;
      const double ry = f.py(std::clamp(*b.reference, y0, y1));
      line(out, cx - w / 2 - 4, ry, cx + w / 2 + 4, ry,
           "stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"4,3\"");
    }
    text(out, cx, kHeight - kBottom + 16, b.label);
    if (std::isfinite(b.value))
      text(out, cx, top - 5, tick_label(std::round(b.value * 100) / 100), "middle",
           " font-size=\"10\"");
  }
  if (any_reference && !chart.reference_label.empty()) {
    line(out, kLeft, kHeight - 14, kLeft + 18, kHeight - 14,
         "stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"4,3\"");
    text(out, kLeft + 24, kHeight - 10, chart.reference_label, "start");
  }
  out += "</svg>\n";
  return out;
}

std::string render_svg(const Heatmap& chart) {
  const std::size_t rows = chart.values.size();
  std::size_t cols = chart.column_labels.size();
  for (const auto& r : chart.values) cols = std::max(cols, r.size());
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& r : chart.values) {
    for (double v : r) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi <= lo) hi = lo + 1;
  std::string out;
  open_svg(out, chart.title);
  const double x0 = kLeft + 20, y0 = kTop, w = kWidth - x0 - kRight, h = kHeight - kTop - kBottom;
  const double cw = w / double(std::max<std::size_t>(1, cols)),
               ch = h / double(std::max<std::size_t>(1, rows));
  const bool label_cells = cols <= 24 && rows <= 24;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < chart.values[r].size(); ++c) {
      const double v = chart.values[r][c];
      const double t = std::isfinite(v) ? (v - lo) / (hi - lo) : 0.0;
      // White -> dark blue.
      const int red = int(std::lround(255 - t * (255 - 8))),
                green = int(std::lround(255 - t * (255 - 48))),
                blue = int(std::lround(255 - t * (255 - 107)));
      char color[16];
      std::snprintf(color, sizeof color, "#%02x%02x%02x", red, green, blue);
      out += "<rect x=\"" + num(x0 + cw * double(c)) + "\" y=\"" + num(y0 + ch * double(r)) +
             "\" width=\"" + num(cw) + "\" height=\"" + num(ch) + "\" fill=\"" + color + "\"/>\n";
      if (chart.show_values && label_cells && std::isfinite(v)) {
        text(out, x0 + cw * (double(c) + 0.5), y0 + ch * (double(r) + 0.5) + 4,
             tick_label(std::round(v * 100) / 100), "middle",
             t > 0.5 ? " fill=\"white\" font-size=\"9\"" : " font-size=\"9\"");
      }
    }
  }
  out += "<rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(w) + "\" height=\"" +
         num(h) + "\" fill=\"none\" stroke=\"black\"/>\n";
  if (label_cells) {
    for (std::size_t r = 0; r < rows && r < chart.row_labels.size(); ++r) {
      text(out, x0 - 4, y0 + ch * (double(r) + 0.5) + 4, chart.row_labels[r], "end",
           " font-size=\"9\"");
    }
    for (std::size_t c = 0; c < cols && c < chart.column_labels.size(); ++c) {
      text(out, x0 + cw * (double(c) + 0.5), y0 + h + 12, chart.column_labels[c], "middle",
           " font-size=\"9\"");
    }
  }
  text(out, x0 + w / 2, kHeight - kBottom + 40, chart.x_label);
  const double cy = y0 + h / 2;
  text(out, 14, cy, chart.y_label, "middle", " transform=\"rotate(-90 14 " + num(cy) + ")\"");
  text(out, kWidth - kRight, kHeight - 10,
       "scale: white = " + tick_label(lo) + ", dark blue = " + tick_label(hi), "end",
       " font-size=\"10\"");
  out += "</svg>\n";
  return out;
}

}  // namespace masque::report
