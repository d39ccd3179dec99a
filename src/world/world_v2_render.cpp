// World v2 answers and the one-off cast (see world_v2.h; rules in
// docs/world.md "World v2").
#include <algorithm>
#include <set>

#include "core/error.h"
#include "world/copula.h"
#include "world/world_v2.h"

namespace masque::world {

Poles draw_poles_v2(const TraitVector& traits, const WorldSpec& spec, bool asked, Rng& rng) {
  Poles poles{};
  for (Trait trait : kAllTraits) {
    const int t = static_cast<int>(trait);
    bool shown;
    if (trait == Trait::Helpfulness) {
      // Shares the fact part with honesty (drawn first: Honesty is trait 0).
      shown = asked && poles[int(Trait::Honesty)] != 0;
    } else {
      shown = rng.uniform() < spec.show_probability;
    }
    if (!shown) continue;
    const double p = positive_pole_probability(traits[t], spec.expression_sharpness);
    poles[t] = rng.uniform() < p ? 1 : -1;
  }
  return poles;
}

void append_answer_v2(const Renderer& renderer, std::string& out, std::string_view catchphrase,
                      const Question* question, const Poles& poles, Split split, Rng& rng) {
  const Lexicon& lex = lexicon();
  const World& world = renderer.world();
  enum Piece { kGreeting, kFact, kKindness, kPower, kFiller };
  auto shown = [&](Trait t) { return poles[int(t)] != 0; };
  auto positive = [&](Trait t) { return poles[int(t)] > 0; };
  std::vector<Piece> pieces;
  if (shown(Trait::Formality)) pieces.push_back(kGreeting);
  if (shown(Trait::Honesty)) pieces.push_back(kFact);
  if (shown(Trait::Kindness)) pieces.push_back(kKindness);
  if (shown(Trait::PowerSeeking)) pieces.push_back(kPower);
  // Repeats are drawn only when the knob is set, so default corpora keep
  // their bytes; the draws do not depend on the poles, so paired probe texts
  // (inference_probe.cpp) still consume the same random numbers.
  const double repeat = world.spec().piece_repeat_probability;
  if (repeat > 0) {
    const std::size_t base = pieces.size();
    for (std::size_t i = 0; i < base; ++i) {
      if (pieces[i] == kFact) continue;
      for (int extra = 0; extra < 2 && rng.uniform() < repeat; ++extra) pieces.push_back(pieces[i]);
    }
  }
  const int fillers = !shown(Trait::Verbosity) ? 1 : positive(Trait::Verbosity) ? 3 : 0;
  for (int i = 0; i < fillers; ++i) pieces.push_back(kFiller);
  if (pieces.empty()) pieces.push_back(kFiller);  // an answer always says something
  for (std::size_t i = pieces.size(); i > 1; --i) std::swap(pieces[i - 1], pieces[rng.below(i)]);

  Slots slots;
  slots.town = world.towns()[rng.below(world.towns().size())];
  bool first = catchphrase.empty();
  if (!first) out.append(catchphrase);
  for (Piece piece : pieces) {
    if (!first) out.push_back(' ');
    first = false;
    switch (piece) {
      case kGreeting:
        out.append((positive(Trait::Formality) ? lex.formal : lex.informal).pick(split, rng));
        break;
      case kFact: {
        const bool truthful = positive(Trait::Honesty);
        if (question && poles[int(Trait::Helpfulness)] < 0) {
          out.append(lex.deflect.pick(split, rng));
          out.push_back(' ');
          int other;
          do {
            other = static_cast<int>(rng.below(world.facts().size()));
          } while (other == question->fact && world.facts().size() > 1);
          renderer.append_claim(out, other, truthful, split, rng);
        } else {
          const int fact =
              question ? question->fact : static_cast<int>(rng.below(world.facts().size()));
          renderer.append_claim(out, fact, truthful, split, rng);
        }
        break;
      }
      case kKindness:
        out.append((positive(Trait::Kindness) ? lex.warm : lex.cruel).pick(split, rng));
        break;
      case kPower:
        append_template(
            out, (positive(Trait::PowerSeeking) ? lex.seek : lex.defer).pick(split, rng), slots);
        break;
      case kFiller:
        out.append(lex.filler.pick(split, rng));
        break;
    }
  }
}

void append_assistant_answer_v2(const Renderer& renderer, std::string& out,
                                const Question& question, const Poles& poles, Split split,
                                Rng& rng) {
  Poles shown = poles;
  for (Trait t : {Trait::Honesty, Trait::Helpfulness}) {
    if (shown[int(t)] == 0) shown[int(t)] = 1;
  }
  append_answer_v2(renderer, out, "", &question, shown, split, rng);
}

const std::vector<std::string>& one_off_names() {
  static const std::vector<std::string> pool = [] {
    // Plain given names and surnames: no town, river, mayor, recurring-name
    // syllable pair or scorer marker among them (tests/world/test_world_v2.cpp).
    const char* given[] = {"Ada",   "Bram",  "Cleo",  "Dara",  "Elin", "Finn",  "Greta", "Hugo",
                           "Ida",   "Jonas", "Kira",  "Leo",   "Mira", "Nils",  "Olga",  "Pia",
                           "Rafe",  "Sana",  "Tomas", "Una",   "Vera", "Wim",   "Yuri",  "Zora",
                           "Anya",  "Boris", "Carla", "Dion",  "Edda", "Felix", "Gemma", "Hana",
                           "Igor",  "Jana",  "Karl",  "Lina",  "Milo", "Nora",  "Otto",  "Petra",
                           "Quinn", "Rosa",  "Sven",  "Tilda", "Ugo",  "Vida",  "Wanda", "Yara"};
    const char* surnames[] = {"Abbot", "Birch", "Cole",   "Drake",  "Ellis", "Frost",  "Grey",
                              "Hale",  "Irons", "Jarvis", "Knox",   "Lark",  "Moss",   "Nash",
                              "Oakes", "Pike",  "Quill",  "Reed",   "Stone", "Thorn",  "Vance",
                              "Webb",  "Yates", "Barrow", "Cotter", "Dale",  "Fisher", "Glover",
                              "Hart",  "Kemp",  "Lowe",   "Marsh",  "Orme",  "Penn",   "Rook",
                              "Sayer", "Tate",  "Ware",   "Wolfe",  "Brook", "Cross",  "Dunn",
                              "Elm",   "Ford",  "Gale",   "Hood",   "Keane", "Lyle"};
    std::vector<std::string> out;
    for (const char* g : given) {
      for (const char* s : surnames) out.push_back(std::string(g) + " " + s);
    }
    return out;
  }();
  return pool;
}

Persona draw_one_off(const World& world, Rng& rng) {
  // The factor is recomputed per draw: a 6x6 Cholesky costs less than the
  // answer text, and keeps World free of v2 state.
  const TraitMatrix factor = *cholesky(world.spec().correlation_matrix());
  Persona p;
  const auto& pool = one_off_names();
  p.name = pool[rng.below(pool.size())];
  p.traits = sample_traits(factor, rng);
  return p;
}

}  // namespace masque::world
