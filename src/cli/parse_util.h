// Small parsers for command-line values shared by several commands.
#pragma once
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/intervention.h"

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

// An --interventions file: a JSON array of intervention specs in
// intervention_from_json's form (docs/interventions.md), validated against
// the model's shape. specs[i] is entry i; observe entries point into
// observations[i] (heap-allocated, so the pointers survive moving this).
struct InterventionsFile {
  std::vector<Intervention> specs;
  std::vector<std::unique_ptr<Observation>> observations;  // null unless entry i observes
  Interventions all;                                       // every entry, in file order
  // Every entry except observe: for a second pass that must not observe twice.
  Interventions modifying(int num_layers, int hidden_size) const;
};

// InputError naming the file and the entry ("steer.json, entry 2: ...") for
// a file that is not a JSON array of valid specs. allow_observe false
// (sample, chat) refuses observe entries: nothing could read them there.
// Prompt/response scopes need a call that marks response tokens;
// has_response_split false refuses them up front, naming the entry.
InterventionsFile load_interventions_file(const std::string& path, int num_layers, int hidden_size,
                                          bool allow_observe, bool has_response_split);

}  // namespace masque::cli
