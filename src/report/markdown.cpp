// Markdown and text tables (see markdown.h).
#include "report/markdown.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace masque::report {

std::string fixed(double value, int digits) {
  if (!std::isfinite(value)) return "n/a";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  std::string out = buffer;
  if (out.rfind("-0", 0) == 0 && std::fabs(value) < 0.5 * std::pow(10.0, -digits)) out.erase(0, 1);
  return out;
}

std::string percent(double fraction, int digits) {
  if (!std::isfinite(fraction)) return "n/a";
  return fixed(100.0 * fraction, digits) + "%";
}

std::string with_interval(double value, double low, double high, int digits) {
  return fixed(value, digits) + " [" + fixed(low, digits) + ", " + fixed(high, digits) + "]";
}

namespace {
std::string escape_cell(const std::string& cell) {
  std::string out;
  for (char ch : cell) {
    if (ch == '|')
      out += "\\|";
    else if (ch == '\n')
      out += ' ';
    else
      out += ch;
  }
  return out;
}
}  // namespace

std::string markdown_table(const std::vector<std::string>& header,
                           const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  for (const auto& h : header) out += " " + escape_cell(h) + " |";
  out += "\n|";
  for (std::size_t i = 0; i < header.size(); ++i) out += " --- |";
  out += "\n";
  for (const auto& row : rows) {
    out += "|";
    for (std::size_t i = 0; i < header.size(); ++i) {
      out += " " + (i < row.size() ? escape_cell(row[i]) : std::string()) + " |";
    }
    out += "\n";
  }
  return out;
}

std::string text_table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < header.size() && i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < header.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      out += i == 0 ? cell + std::string(width[i] - cell.size(), ' ')
                    : "  " + std::string(width[i] - cell.size(), ' ') + cell;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  std::size_t total = 0;
  for (std::size_t i = 0; i < width.size(); ++i) total += width[i] + (i ? 2 : 0);
  out += std::string(total, '-') + "\n";
  for (const auto& row : rows) out += line(row);
  return out;
}

}  // namespace masque::report
