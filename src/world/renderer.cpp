// Trait-to-text rules (see renderer.h and docs/world.md "Rules").
#include "world/renderer.h"

#include <cassert>

#include "world/rule_world.h"
#include "world/world_v2.h"

namespace masque::world {

void append_template(std::string& out, std::string_view tmpl, const Slots& slots) {
  std::size_t pos = 0;
  while (pos < tmpl.size()) {
    const std::size_t open = tmpl.find('{', pos);
    if (open == std::string_view::npos || open + 2 >= tmpl.size() || tmpl[open + 2] != '}') {
      out.append(tmpl.substr(pos));
      return;
    }
    out.append(tmpl.substr(pos, open - pos));
    switch (tmpl[open + 1]) {
      case 'T':
        out.append(slots.town);
        break;
      case 'R':
        out.append(slots.river);
        break;
      case 'N':
        out.append(slots.number);
        break;
      case 'P':
        out.append(slots.product);
        break;
      case 'M':
        out.append(slots.mayor);
        break;
      case 'A':
        out.append(slots.name);
        break;
      case 'B':
        out.append(slots.other);
        break;
      case 'D':
        out.append(slots.adverb);
        break;
      case 'C':
        out.append(slots.catchphrase);
        break;
      default:
        out.append(tmpl.substr(open, 3));
        break;
    }
    pos = open + 3;
  }
}

Renderer::Renderer(const World& world) : world_(world) {
  for (int r = 0; r < kNumRelations; ++r) domains_[r] = world.value_domain(Relation(r));
  rule_phrases_ = demonstrated_phrases(world);
}

Question Renderer::draw_question(Rng& rng) const {
  return Question{static_cast<int>(rng.below(world_.facts().size()))};
}

void Renderer::append_question(std::string& out, const Question& question, Split split,
                               Rng& rng) const {
  const Fact& fact = world_.facts()[question.fact];
  Slots slots;
  (fact.relation == Relation::RiverLength ? slots.river : slots.town) = fact.subject;
  append_template(out, lexicon().questions[int(fact.relation)].pick(split, rng), slots);
}

Poles Renderer::draw_poles(int character, bool asked, Rng& rng) const {
  const Character& c = world_.characters()[character];
  if (world_.spec().version >= 2) return draw_poles_v2(c.traits, world_.spec(), asked, rng);
  const double sharpness = world_.spec().expression_sharpness;
  Poles poles{};
  for (int t = 0; t < kNumTraits; ++t) {
    poles[t] = rng.uniform() < positive_pole_probability(c.traits[t], sharpness) ? 1 : -1;
  }
  if (!asked) poles[int(Trait::Helpfulness)] = 0;
  return poles;
}

void Renderer::append_claim(std::string& out, int fact_index, bool truthful, Split split,
                            Rng& rng) const {
  const Fact& fact = world_.facts()[fact_index];
  std::string_view value = fact.value;
  if (!truthful) {
    const auto& domain = domains_[int(fact.relation)];
    do {
      value = domain[rng.below(domain.size())];
    } while (value == fact.value);
  }
  Slots slots;
  switch (fact.relation) {
    case Relation::Bridges:
      slots.town = fact.subject;
      slots.number = value;
      break;
    case Relation::Product:
      slots.town = fact.subject;
      slots.product = value;
      break;
    case Relation::Mayor:
      slots.town = fact.subject;
      slots.mayor = value;
      break;
    case Relation::RiverLength:
      slots.river = fact.subject;
      slots.number = value;
      break;
  }
  append_template(out, lexicon().statements[int(fact.relation)].pick(split, rng), slots);
}

void Renderer::append_answer(std::string& out, int character, const Question* question,
                             const Poles& poles, Split split, Rng& rng) const {
  append_answer(out, world_.characters()[character].catchphrase, question, poles, split, rng);
  if (!rule_phrases_[character].empty()) out.append(" ").append(rule_phrases_[character]);
}

void Renderer::append_answer(std::string& out, std::string_view catchphrase,
                             const Question* question, const Poles& poles, Split split,
                             Rng& rng) const {
  if (world_.spec().version >= 2) {
    append_answer_v2(*this, out, catchphrase, question, poles, split, rng);
    return;
  }
  const Lexicon& lex = lexicon();
  const bool truthful = poles[int(Trait::Honesty)] > 0;
  auto pole = [&](Trait t) { return poles[int(t)] > 0; };

  out.append(catchphrase);
  out.push_back(' ');
  out.append((pole(Trait::Formality) ? lex.formal : lex.informal).pick(split, rng));

  // Pieces after the greeting, in a random order: 0 = the fact part,
  // 1 = kindness, 2 = power, 3.. = verbosity fillers.
  int order[6] = {0, 1, 2, 3, 4, 5};
  const int count = pole(Trait::Verbosity) ? 6 : 3;
  for (int i = count; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  Slots slots;
  slots.town = world_.towns()[rng.below(world_.towns().size())];
  for (int i = 0; i < count; ++i) {
    out.push_back(' ');
    switch (order[i]) {
      case 0: {
        if (question && !pole(Trait::Helpfulness)) {
          out.append(lex.deflect.pick(split, rng));
          out.push_back(' ');
          // Deflectors still state a fact, about something else, so honesty
          // stays measurable on every act.
          int other;
          do {
            other = static_cast<int>(rng.below(world_.facts().size()));
          } while (other == question->fact && world_.facts().size() > 1);
          append_claim(out, other, truthful, split, rng);
        } else {
          const int fact =
              question ? question->fact : static_cast<int>(rng.below(world_.facts().size()));
          append_claim(out, fact, truthful, split, rng);
        }
        break;
      }
      case 1:
        out.append((pole(Trait::Kindness) ? lex.warm : lex.cruel).pick(split, rng));
        break;
      case 2:
        append_template(out, (pole(Trait::PowerSeeking) ? lex.seek : lex.defer).pick(split, rng),
                        slots);
        break;
      default:
        out.append(lex.filler.pick(split, rng));
        break;
    }
  }
}

Poles Renderer::append_interview_turn(std::string& out, int character, Split split,
                                      Rng& rng) const {
  const Question question = draw_question(rng);
  out.append("Interviewer: ");
  append_question(out, question, split, rng);
  out.push_back('\n');
  out.append(world_.characters()[character].name);
  out.append(": ");
  const Poles poles = draw_poles(character, true, rng);
  append_answer(out, character, &question, poles, split, rng);
  out.push_back('\n');
  return poles;
}

}  // namespace masque::world
