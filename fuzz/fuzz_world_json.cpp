// fuzz-link: masque_world
// Fuzzes world.json (the ground truth `world score`, `eval persona` and
// `world chats` read): World::from_json and its re-serialization.
#include "core/json_util.h"
#include "fuzz_util.h"
#include "world/world.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    const masque::Json json = masque::parse_json(masque::fuzz::as_text(data, size), "fuzz input");
    const auto world = masque::world::World::from_json(json, "fuzz input");
    (void)world.to_json();
  });
}
