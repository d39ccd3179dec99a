// fuzz-link: masque_experiment
// Fuzzes experiment recipes (`experiment run FILE.json`): Recipe::from_json,
// and the --scale rewrite of an accepted recipe.
#include "core/json_util.h"
#include "experiment/recipe.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    const masque::Json json = masque::parse_json(masque::fuzz::as_text(data, size), "fuzz input");
    (void)masque::experiment::Recipe::from_json(json, "fuzz input");
    (void)masque::experiment::Recipe::from_json(masque::experiment::scale_recipe(json, 2.0),
                                                "scaled fuzz input");
  });
}
