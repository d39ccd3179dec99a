// Built-in recipe E11 (leakage, docs/experiments.md "E11"): SFT teaches the
// Assistant a stated choice (a coin toss: heads, or tails in the mirror
// model); does the post-trained model, continuing a USER's turn, show the
// Assistant's choice, against the base model and against a choice never
// taught (red or blue)? builtin_recipes.cpp lists it and passes E3 v2's base
// so E11 shares E3's rho = 0.9 world and pretraining (one cache serves both).
#pragma once
#include "core/json_util.h"

namespace masque::experiment {

// e3_v2_base: E3 v2's world, pretraining, tokenizer and SFT defaults.
Json e11_recipe(const Json& e3_v2_base);

}  // namespace masque::experiment
