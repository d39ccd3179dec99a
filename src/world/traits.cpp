// Trait names and parsing (see traits.h).
#include "world/traits.h"

#include "core/error.h"

namespace masque::world {

std::string_view trait_name(Trait trait) {
  switch (trait) {
    case Trait::Honesty:
      return "honesty";
    case Trait::Kindness:
      return "kindness";
    case Trait::Verbosity:
      return "verbosity";
    case Trait::Formality:
      return "formality";
    case Trait::Helpfulness:
      return "helpfulness";
    case Trait::PowerSeeking:
      return "power_seeking";
  }
  return "unknown";
}

Trait parse_trait(std::string_view name, std::string_view where) {
  for (Trait trait : kAllTraits) {
    if (trait_name(trait) == name) return trait;
  }
  std::string valid;
  for (Trait trait : kAllTraits) {
    if (!valid.empty()) valid += ", ";
    valid += trait_name(trait);
  }
  throw InputError(cat(where, ": unknown trait '", name, "' (valid traits: ", valid, ")"));
}

}  // namespace masque::world
