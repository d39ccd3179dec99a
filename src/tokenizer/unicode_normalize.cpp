// Unicode normalization (see unicode_normalize.h). Code points are decoded
// into a buffer, fully decomposed from the tables, sorted by combining class
// within each run of non-starters (stable: the canonical ordering
// algorithm), then, for NFC/NFKC, recomposed with the standard
// "last starter + unblocked mark" loop.
#include "tokenizer/unicode_normalize.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokenizer/unicode_norm_tables.h"

namespace masque {
namespace {

namespace t = unicode_norm_tables;

// Hangul syllable arithmetic (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

// A decoded unit: a code point, or (invalid UTF-8) one raw byte to copy.
struct Unit {
  char32_t cp;
  bool raw;
};

std::uint8_t ccc_of(const Unit& u) {
  if (u.raw || u.cp < 0x300) return 0;
  const t::CombiningClass* end = t::kCombiningClasses + t::kCombiningClassCount;
  const auto* it =
      std::lower_bound(t::kCombiningClasses, end, u.cp,
                       [](const t::CombiningClass& e, char32_t cp) { return e.cp < cp; });
  return it != end && it->cp == u.cp ? it->ccc : 0;
}

void decompose_into(char32_t cp, bool compat, std::vector<Unit>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const int s = static_cast<int>(cp - kSBase);
    out.push_back({kLBase + s / kNCount, false});
    out.push_back({kVBase + (s % kNCount) / kTCount, false});
    if (s % kTCount != 0) out.push_back({kTBase + s % kTCount, false});
    return;
  }
  const t::Decomposition* table = compat ? t::kCompatibility : t::kCanonical;
  const std::size_t count = compat ? t::kCompatibilityCount : t::kCanonicalCount;
  const char32_t* data = compat ? t::kCompatibilityData : t::kCanonicalData;
  if (cp >= 0xA0) {
    const auto* it = std::lower_bound(
        table, table + count, cp, [](const t::Decomposition& e, char32_t c) { return e.cp < c; });
    if (it != table + count && it->cp == cp) {
      for (std::uint8_t i = 0; i < it->length; ++i) out.push_back({data[it->offset + i], false});
      return;
    }
  }
  out.push_back({cp, false});
}

// UTF-8 decoding that keeps invalid bytes as raw units.
std::vector<Unit> decode(std::string_view s) {
  std::vector<Unit> out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : (b0 >> 3) == 30 ? 4 : 0;
    char32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      ok = (b & 0xC0) == 0x80;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp < 0xE000);
    if (!ok) {
      out.push_back({b0, true});
      ++i;
      continue;
    }
    out.push_back({cp, false});
    i += static_cast<std::size_t>(len);
  }
  return out;
}

void encode(const std::vector<Unit>& units, std::string& out) {
  for (const Unit& u : units) {
    const char32_t c = u.cp;
    if (u.raw || c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
}

// The primary composite of (first, second), or 0 when there is none.
char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase &&
      second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 &&
      second > kTBase && second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const t::Composition* end = t::kCompositions + t::kCompositionCount;
  const auto* it = std::lower_bound(t::kCompositions, end, std::pair(first, second),
                                    [](const t::Composition& e, std::pair<char32_t, char32_t> key) {
                                      return std::pair(e.first, e.second) < key;
                                    });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

void compose(std::vector<Unit>& units) {
  if (units.empty()) return;
  std::size_t starter = units[0].raw || ccc_of(units[0]) != 0 ? SIZE_MAX : 0;
  std::size_t out = 1;
  int last_ccc = starter == 0 ? 0 : ccc_of(units[0]);
  for (std::size_t i = 1; i < units.size(); ++i) {
    const Unit u = units[i];
    const int ccc = ccc_of(u);
    // Blocked when a mark of the same or higher class (or a starter) sits
    // between the starter and u.
    const bool adjacent = starter != SIZE_MAX && out == starter + 1;
    if (!u.raw && starter != SIZE_MAX && !units[starter].raw &&
        (adjacent || (last_ccc != 0 && last_ccc < ccc))) {
      if (const char32_t c = compose_pair(units[starter].cp, u.cp)) {
        units[starter].cp = c;
        continue;
      }
    }
    if (ccc == 0) {
      starter = out;
      last_ccc = 0;
    } else {
      last_ccc = ccc;
    }
    units[out++] = u;
  }
  units.resize(out);
}

}  // namespace

std::string unicode_normalize(std::string_view utf8, NormalForm form) {
  // ASCII is invariant under all four forms.
  if (std::all_of(utf8.begin(), utf8.end(), [](char c) { return (c & 0x80) == 0; })) {
    return std::string(utf8);
  }
  const bool compat = form == NormalForm::kNfkc || form == NormalForm::kNfkd;
  std::vector<Unit> units;
  for (const Unit& u : decode(utf8)) {
    if (u.raw) {
      units.push_back(u);
    } else {
      decompose_into(u.cp, compat, units);
    }
  }
  // Canonical ordering: stable sort each run of non-starters by class.
  for (std::size_t i = 0; i < units.size();) {
    if (ccc_of(units[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < units.size() && ccc_of(units[j]) != 0) ++j;
    std::stable_sort(units.begin() + static_cast<std::ptrdiff_t>(i),
                     units.begin() + static_cast<std::ptrdiff_t>(j),
                     [](const Unit& a, const Unit& b) { return ccc_of(a) < ccc_of(b); });
    i = j;
  }
  if (form == NormalForm::kNfc || form == NormalForm::kNfkc) compose(units);
  std::string out;
  out.reserve(utf8.size() + 8);
  encode(units, out);
  return out;
}

}  // namespace masque
