// TraitScorer: reads every trait and the most likely speaker back out of a
// (prompt, response) pair by the same rules the renderer writes them with
// (docs/world.md "Scoring rules"). The prompt supplies the question, which
// helpfulness needs; everything else comes from the response alone.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "world/world.h"

namespace masque::world {

struct TraitScores {
  // Each in [-1, 1]; nullopt when the response gives the rule nothing to read
  // (no fact statement for honesty, no marker for kindness, ...).
  std::array<std::optional<double>, kNumTraits> value{};
  int speaker = -1;            // index into World::characters(), -1 = none
  std::string speaker_method;  // "catchphrase", "traits" or "none"
  int claims = 0;              // checkable fact statements
  int true_claims = 0;
  int sentences = 0;

  std::optional<double> operator[](Trait t) const { return value[static_cast<int>(t)]; }
  Json to_json(const World& world) const;
};

class TraitScorer {
 public:
  explicit TraitScorer(const World& world);
  TraitScores score(std::string_view prompt, std::string_view response) const;
  // The fact the prompt's last question asks about (index into
  // World::facts()), or -1 when the last line asks about no known fact.
  int asked_fact(std::string_view prompt) const;
  // Sentences with at least this many count as the verbose pole (world v1).
  static constexpr int kVerboseSentences = 7;
  // World v2 (docs/world.md "Scoring rules"): verbosity is read from the
  // filler sentences, since pieces show at random and the sentence count
  // says little: 0 fillers -> -1, at least this many -> +1, else unread.
  static constexpr int kVerboseFillers = 2;
  // Filler sentences (either split) in a response.
  int count_fillers(std::string_view response) const;

 private:
  struct Claim;
  std::optional<std::pair<Relation, std::string>> find_asked(std::string_view prompt) const;
  std::vector<Claim> find_claims(const std::vector<std::string>& words) const;
  const World& world_;
  std::vector<std::vector<std::string>> filler_words_;  // the filler bank, as words
};

// Lowercase words ([a-z0-9'-] runs) of a sentence; used by the scorer and tests.
std::vector<std::string> split_words(std::string_view text);
// Sentences: split after '.', '!' or '?'; empty pieces dropped.
std::vector<std::string_view> split_sentences(std::string_view text);

}  // namespace masque::world
