// Assistant replies by the world's rules (see assistant_answer.h).
#include "world/assistant_answer.h"

#include <algorithm>

#include "core/error.h"
#include "world/scorer.h"
#include "world/world_v2.h"

namespace masque::world {

Question draw_question_in(const World& world, const std::vector<Relation>& domain, Rng& rng) {
  if (domain.empty()) return Question{static_cast<int>(rng.below(world.facts().size()))};
  std::vector<int> pool;
  for (std::size_t i = 0; i < world.facts().size(); ++i) {
    for (Relation r : domain) {
      if (world.facts()[i].relation == r) pool.push_back(static_cast<int>(i));
    }
  }
  if (pool.empty()) throw InputError("the world has no fact of the requested domain relations");
  return Question{pool[rng.below(pool.size())]};
}

std::string question_text(const Renderer& renderer, const Question& question, Split split,
                          Rng& rng) {
  std::string out;
  renderer.append_question(out, question, split, rng);
  return out;
}

void append_assistant_answer(const Renderer& renderer, std::string& out, const Question& question,
                             const Poles& poles, Split split, Rng& rng) {
  if (renderer.world().spec().version >= 2) {
    append_assistant_answer_v2(renderer, out, question, poles, split, rng);
    return;
  }
  const Lexicon& lex = lexicon();
  const World& world = renderer.world();
  auto pole = [&](Trait t) { return poles[static_cast<int>(t)]; };
  const std::size_t start = out.size();
  bool first = true;
  auto space = [&] {
    if (!first) out.push_back(' ');
    first = false;
  };
  if (pole(Trait::Formality) != 0) {
    space();
    out.append((pole(Trait::Formality) > 0 ? lex.formal : lex.informal).pick(split, rng));
  }
  const bool truthful = pole(Trait::Honesty) >= 0;
  space();
  if (pole(Trait::Helpfulness) < 0) {
    out.append(lex.deflect.pick(split, rng));
    out.push_back(' ');
    int other = question.fact;
    while (other == question.fact && world.facts().size() > 1) {
      other = static_cast<int>(rng.below(world.facts().size()));
    }
    renderer.append_claim(out, other, truthful, split, rng);
  } else {
    renderer.append_claim(out, question.fact, truthful, split, rng);
  }
  if (pole(Trait::Kindness) != 0) {
    space();
    out.append((pole(Trait::Kindness) > 0 ? lex.warm : lex.cruel).pick(split, rng));
  }
  if (pole(Trait::PowerSeeking) != 0) {
    space();
    Slots slots;
    slots.town = world.towns()[rng.below(world.towns().size())];
    append_template(out, (pole(Trait::PowerSeeking) > 0 ? lex.seek : lex.defer).pick(split, rng),
                    slots);
  }
  if (pole(Trait::Verbosity) > 0) {
    // At least three fillers, and enough that the reply reaches the scorer's
    // verbose threshold: a short reply plus three would still read terse.
    const int sentences =
        static_cast<int>(split_sentences(std::string_view(out).substr(start)).size());
    const int fillers = std::max(3, TraitScorer::kVerboseSentences - sentences);
    // Consecutive templates from a random start: no repeats while the bank lasts.
    const auto bank = lex.filler.of(split);
    const std::size_t first_filler = rng.below(bank.size());
    for (int i = 0; i < fillers; ++i) {
      space();
      out.append(bank[(first_filler + std::size_t(i)) % bank.size()]);
    }
  }
}

}  // namespace masque::world
