// fuzz-link: masque_world
// Fuzzes chat-set specs (`world chats --spec`): ChatSetSpec::from_json and
// validate; to_json of an accepted spec must round-trip (chat_sets.h).
#include <cstdlib>

#include "core/json_util.h"
#include "fuzz_util.h"
#include "world/chat_sets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    const masque::Json json = masque::parse_json(masque::fuzz::as_text(data, size), "fuzz input");
    const auto spec = masque::world::ChatSetSpec::from_json(json, "fuzz input");
    spec.validate("fuzz input");
    try {
      const auto again = masque::world::ChatSetSpec::from_json(spec.to_json(), "round trip");
      if (again.to_json() != spec.to_json())
        throw masque::Error("to_json differs after a round trip");
    } catch (const masque::Error& e) {
      std::fprintf(stderr, "fuzz: chat set spec does not round-trip: %s\n", e.what());
      std::abort();
    }
  });
}
