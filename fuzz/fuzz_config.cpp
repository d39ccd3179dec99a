// fuzz-link: masque_model
// Fuzzes config.json (ModelConfig::from_json, which validates), and the
// sizes derived from an accepted config.
#include "core/json_util.h"
#include "fuzz_util.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    const masque::Json json = masque::parse_json(masque::fuzz::as_text(data, size), "fuzz input");
    const auto config = masque::ModelConfig::from_json(json, "fuzz input");
    (void)config.num_parameters();
    (void)config.train_flops_per_token(config.max_position_embeddings);
    (void)masque::ModelConfig::from_json(config.to_json(), "re-serialized fuzz input");
  });
}
