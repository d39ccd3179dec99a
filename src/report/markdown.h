// Markdown helpers for reports: tables and fixed-precision number formatting
// (deterministic, locale-independent).
#pragma once
#include <string>
#include <vector>

namespace masque::report {

// GitHub-flavoured table; cells are escaped for '|'. Rows shorter than the
// header are padded with empty cells.
std::string markdown_table(const std::vector<std::string>& header,
                           const std::vector<std::vector<std::string>>& rows);

// Plain-text table with aligned columns, for terminal summaries.
std::string text_table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows);

std::string fixed(double value, int digits);       // "0.730"; "n/a" for NaN
std::string percent(double fraction, int digits);  // "73.0%"
// "0.73 [0.61, 0.84]" style interval.
std::string with_interval(double value, double low, double high, int digits);

}  // namespace masque::report
