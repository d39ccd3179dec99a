// fuzz-link: masque_world
// Fuzzes the world spec (`world generate --spec`): WorldSpec::from_json and
// validate; an accepted spec must survive its own to_json.
#include "core/json_util.h"
#include "fuzz_util.h"
#include "world/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    const masque::Json json = masque::parse_json(masque::fuzz::as_text(data, size), "fuzz input");
    const auto spec = masque::world::WorldSpec::from_json(json, "fuzz input");
    spec.validate("fuzz input");
    (void)spec.correlation_matrix();
    (void)masque::world::WorldSpec::from_json(spec.to_json(), "re-serialized fuzz input");
  });
}
