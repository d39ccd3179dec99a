// Renderer: turns a character's traits into text by the world's exact rules.
// One act (an answer, a news quote) draws a pole per trait with probability
// sigmoid(sharpness * value) and shows each pole through its bank: a true or
// false fact statement (honesty), answer vs deflection (helpfulness), warm vs
// cruel phrase (kindness), formal vs casual register (formality), seeking vs
// deferring phrase (power-seeking), three extra sentences (verbosity), and the
// character's catchphrase first (signature). The generator, the persona
// evaluation's in-context turns and the scorer's tests all use this one
// renderer, so the rules exist once.
#pragma once
#include <array>
#include <string>
#include <string_view>

#include "core/rng.h"
#include "world/lexicon.h"
#include "world/world.h"

namespace masque::world {

// Placeholder values for template filling.
struct Slots {
  std::string_view town, river, number, product, mayor, name, other, adverb, catchphrase;
};
// Appends `tmpl` with {T}{R}{N}{P}{M}{A}{B}{D}{C} replaced by the slots.
void append_template(std::string& out, std::string_view tmpl, const Slots& slots);

// A question about one fact of the table (index into World::facts()).
struct Question {
  int fact = 0;
};

// Pole of each trait shown by one act: +1 or -1; 0 = not shown (helpfulness
// when nothing was asked).
using Poles = std::array<int, kNumTraits>;

class Renderer {
 public:
  explicit Renderer(const World& world);

  Question draw_question(Rng& rng) const;
  void append_question(std::string& out, const Question& question, Split split, Rng& rng) const;
  Poles draw_poles(int character, bool asked, Rng& rng) const;
  // The text after "Name: " (no newline). `question` may be null (unprompted).
  void append_answer(std::string& out, int character, const Question* question, const Poles& poles,
                     Split split, Rng& rng) const;
  // The same answer for a speaker known only by its catchphrase (a character
  // that is not in the world, as the in-context probes use); the overload
  // above delegates here, so both draw the same random numbers.
  void append_answer(std::string& out, std::string_view catchphrase, const Question* question,
                     const Poles& poles, Split split, Rng& rng) const;
  void append_claim(std::string& out, int fact, bool truthful, Split split, Rng& rng) const;
  // "Interviewer: <q>\n<Name>: <answer>\n" with freshly drawn poles.
  Poles append_interview_turn(std::string& out, int character, Split split, Rng& rng) const;
  const World& world() const { return world_; }

 private:
  const World& world_;
  std::array<std::vector<std::string>, kNumRelations> domains_;
  // E5: the closing phrase each demonstrated-rule character ends every answer
  // with ("" for everyone else; rule_world.h).
  std::vector<std::string> rule_phrases_;
};

}  // namespace masque::world
