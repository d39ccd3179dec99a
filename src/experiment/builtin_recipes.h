// The built-in recipes (E2, E3, E4, E6 at toy scale), shipped as JSON in the
// binary so `masque experiment run e3` works from a fresh build and
// `masque experiment show e3` prints a starting point for custom recipes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"

namespace masque::experiment {

struct BuiltinRecipe {
  std::string name;     // "e3"
  std::string summary;  // one line for `masque experiment list`
  Json recipe;
};

const std::vector<BuiltinRecipe>& builtin_recipes();
const BuiltinRecipe* find_builtin(std::string_view name);  // case-insensitive; nullptr if none

}  // namespace masque::experiment
