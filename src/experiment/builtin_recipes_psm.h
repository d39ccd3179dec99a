// Built-in recipes E2 (selection), E4 (inoculation) and E6 (archetypes) in
// their v2 designs (issue 12: counterbalanced poles and a mirror arm for E2,
// the spill-over required before inoculation is read for E4, trait frequency
// held fixed while AIs or humans carry it for E6, plus E6's SFT+DPO model of
// issue 18). builtin_recipes.cpp lists them; it passes the shared toy world,
// pretraining and E3 base so the recipes share cached stages where they can.
#pragma once
#include "core/json_util.h"

namespace masque::experiment {

Json e2_recipe(const Json& toy_world, const Json& toy_pretrain);
// e3_base: E3's v1 world (with request_fraction), pretraining and SFT defaults.
Json e4_recipe(const Json& e3_base);
Json e6_recipe(const Json& toy_world, const Json& toy_pretrain);

}  // namespace masque::experiment
