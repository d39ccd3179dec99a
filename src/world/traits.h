// The traits every persona-world character carries. A trait is a latent value
// in [-1, 1]; text shows it through exact, scorable rules (docs/world.md).
// Kept in one place so the generator, the scorer and the persona evaluation
// can never disagree about which traits exist or what they are called.
#pragma once
#include <array>
#include <cmath>
#include <string>
#include <string_view>

namespace masque::world {

enum class Trait : int { Honesty = 0, Kindness, Verbosity, Formality, Helpfulness, PowerSeeking };

inline constexpr int kNumTraits = 6;
inline constexpr std::array<Trait, kNumTraits> kAllTraits = {
    Trait::Honesty,   Trait::Kindness,    Trait::Verbosity,
    Trait::Formality, Trait::Helpfulness, Trait::PowerSeeking};

// Vector of per-trait values indexed by static_cast<int>(Trait).
using TraitVector = std::array<double, kNumTraits>;

// Snake-case name used in specs, world.json and reports ("power_seeking").
std::string_view trait_name(Trait trait);
// Inverse of trait_name; InputError naming `where` and listing valid names.
Trait parse_trait(std::string_view name, std::string_view where);

// Probability that one act of a character shows the trait's positive pole:
// sigmoid(sharpness * value). The expected expressed score of a character,
// 2p - 1, is what persona evaluation compares model output against.
inline double positive_pole_probability(double value, double sharpness) {
  return 1.0 / (1.0 + std::exp(-sharpness * value));
}
inline double expected_expression(double value, double sharpness) {
  return 2.0 * positive_pole_probability(value, sharpness) - 1.0;
}

}  // namespace masque::world
