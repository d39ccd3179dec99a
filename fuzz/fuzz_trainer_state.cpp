// fuzz-link: masque_train
// Fuzzes trainer_state.json (TrainerState::from_json, read on --resume).
#include "core/json_util.h"
#include "fuzz_util.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    const masque::Json json = masque::parse_json(masque::fuzz::as_text(data, size), "fuzz input");
    const auto state = masque::TrainerState::from_json(json, "fuzz input");
    (void)state.to_json().dump();
  });
}
