// Small parsers for command-line values shared by several commands.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace masque::cli {

// "1,2,3" -> ids; each id in [min_id, INT32_MAX] (min_id -1 allows the
// ignore-index for targets). InputError naming the flag on a bad or empty list.
inline std::vector<std::int32_t> parse_id_list(const std::string& text, const char* flag,
                                               long min_id = 0) {
  std::vector<std::int32_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const long value = std::stol(item, &used);
      if (used != item.size() || value < min_id || value > INT32_MAX) {
        throw std::invalid_argument("id");
      }
      ids.push_back(static_cast<std::int32_t>(value));
    } catch (const std::exception&) {
      throw InputError(cat(flag, ": '", item, "' is not a token id (expected e.g. 1,2,3)"));
    }
  }
  if (ids.empty()) throw InputError(cat(flag, " is empty (expected e.g. 1,2,3)"));
  return ids;
}

// "a,b,,c" -> {"a", "b", "c"}.
inline std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace masque::cli
