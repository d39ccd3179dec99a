// The persona-vector recipes E7-E10 (docs/experiments.md "Persona-vector
// recipes"), listed by builtin_recipes(). They share the world and
// pretraining of E4 v1's (and E3 v1's) rho = 0.9 arm and one Assistant, so with one stage
// cache the pretrained models, the Assistant and its vectors are built once.
#pragma once
#include <vector>

#include "experiment/builtin_recipes.h"

namespace masque::experiment {

std::vector<BuiltinRecipe> vector_recipes();  // e7, e8, e9, e10

}  // namespace masque::experiment
