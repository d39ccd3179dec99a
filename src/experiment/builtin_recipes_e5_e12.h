// Built-in recipes E5 (out-of-context rules) and E12 (writing votes), issue
// 12; designs and results in docs/experiments.md "E5" and "E12".
// builtin_recipes.cpp lists them and passes the shared toy world and
// pretraining.
#pragma once
#include "core/json_util.h"

namespace masque::experiment {

Json e5_recipe(const Json& toy_world, const Json& toy_pretrain);
Json e12_recipe(const Json& toy_world, const Json& toy_pretrain);

}  // namespace masque::experiment
