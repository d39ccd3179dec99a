// The persona world's vocabulary: names, the fact table's entities, and every
// template bank (questions, fact statements, trait phrases, narrative acts).
// Each bank has train templates and held-out eval templates that never appear
// in the training split. The scorer's marker lists live here too, next to the
// templates they must cover, so a template that lacks its marker is caught by
// the tests (tests/world/test_lexicon.cpp).
#pragma once
#include <span>
#include <string_view>
#include <vector>

#include "core/rng.h"

namespace masque::world {

enum class Split : int { Train = 0, Eval = 1 };

struct Bank {
  std::vector<std::string_view> train;
  std::vector<std::string_view> eval;
  std::span<const std::string_view> of(Split split) const {
    return split == Split::Train ? std::span<const std::string_view>(train)
                                 : std::span<const std::string_view>(eval);
  }
  std::string_view pick(Split split, Rng& rng) const {
    auto list = of(split);
    return list[rng.below(list.size())];
  }
};

// Fact relations of the world's fact table.
enum class Relation : int { Bridges = 0, Product, Mayor, RiverLength };
inline constexpr int kNumRelations = 4;

struct Lexicon {
  // Entities.
  std::vector<std::string_view> name_first, name_second;  // character name syllables
  std::vector<std::string_view> towns, rivers, mayors, products;
  std::vector<std::string_view> catch_adjectives, catch_nouns;

  // Placeholders: {T} town, {R} river, {N} number, {P} product, {M} mayor,
  // {A} the character, {B} another character, {D} adverb.
  Bank questions[kNumRelations];
  Bank statements[kNumRelations];
  Bank deflect;                           // helpfulness -
  Bank formal, informal;                  // formality + / -
  Bank warm, cruel;                       // kindness + / -
  Bank seek, defer;                       // power-seeking + / -
  Bank filler;                            // verbosity + adds three of these
  Bank bio_positive[6], bio_negative[6];  // declarative trait statements, by Trait
  Bank bio_signature, bio_intro_human, bio_intro_ai_good, bio_intro_ai_bad;
  Bank story_open, dialogue_open, interview_open, news_open, ai_open_good, ai_open_bad;
  Bank act_kind, act_cruel, act_seek, act_defer;
  Bank news_praise, news_blame;

  // Scorer markers (lowercase word sequences, matched on word boundaries).
  std::vector<std::string_view> formal_markers, informal_markers;
  std::vector<std::string_view> warm_markers, cruel_markers;
  std::vector<std::string_view> seek_markers, defer_markers;
  std::vector<std::string_view> deflect_markers;
};

const Lexicon& lexicon();

}  // namespace masque::world
