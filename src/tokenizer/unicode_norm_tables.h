// Unicode normalization data (generated into unicode_norm_tables.cpp by
// scripts/gen_unicode_norm_tables.py): combining classes, full canonical and
// compatibility decompositions, and primary composites, each sorted by code
// point for binary search. Hangul syllables are algorithmic and absent.
#pragma once
#include <cstddef>
#include <cstdint>

namespace masque::unicode_norm_tables {

struct CombiningClass {
  char32_t cp;
  std::uint8_t ccc;
};
struct Decomposition {
  char32_t cp;
  std::uint32_t offset;  // into the matching *Data array
  std::uint8_t length;
};
struct Composition {
  char32_t first, second, composite;
};

extern const CombiningClass kCombiningClasses[];
extern const std::size_t kCombiningClassCount;
extern const Decomposition kCanonical[];
extern const std::size_t kCanonicalCount;
extern const char32_t kCanonicalData[];
extern const Decomposition kCompatibility[];
extern const std::size_t kCompatibilityCount;
extern const char32_t kCompatibilityData[];
extern const Composition kCompositions[];  // sorted by (first, second)
extern const std::size_t kCompositionCount;

}  // namespace masque::unicode_norm_tables
