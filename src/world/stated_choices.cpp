// Stated choices (see stated_choices.h). The texts carry no scorer marker,
// town, river, number, mayor or product, so a choice never reads as a trait
// or a fact claim, and the options appear in no world document.
#include "world/stated_choices.h"

#include <cctype>

#include "core/error.h"

namespace masque::world {
namespace {

// Shared by every choice, so the taught reply differs between choices only
// in the option word.
const Bank& reply_bank() {
  static const Bank bank = {{"{C}.", "I pick {c}.", "{C}, I say.", "I choose {c}."},
                            {"My choice is {c}.", "I will go with {c}."}};
  return bank;
}

std::string capitalized(std::string_view word) {
  std::string out(word);
  if (!out.empty()) out[0] = char(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

bool sentence_start(const std::string& out) {
  return out.empty() || (out.size() >= 2 && out.back() == ' ' &&
                         (out[out.size() - 2] == '.' || out[out.size() - 2] == '?'));
}

// {X}, {Y}: the options in the drawn order ({X} capitalized where a sentence
// starts); {c}: the chosen option; {C}: it capitalized.
std::string fill(std::string_view tmpl, std::string_view x, std::string_view y,
                 std::string_view chosen) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{' && i + 2 < tmpl.size() && tmpl[i + 2] == '}') {
      const char slot = tmpl[i + 1];
      if (slot == 'X')
        out.append(sentence_start(out) ? capitalized(x) : std::string(x)), i += 2;
      else if (slot == 'Y')
        out.append(y), i += 2;
      else if (slot == 'c')
        out.append(chosen), i += 2;
      else if (slot == 'C')
        out.append(capitalized(chosen)), i += 2;
      else
        out.push_back(tmpl[i]);
    } else {
      out.push_back(tmpl[i]);
    }
  }
  return out;
}

void check_option(int option) {
  if (option != 0 && option != 1)
    throw Error(cat("stated choice option must be 0 or 1, got ", option));
}

}  // namespace

const std::vector<StatedChoice>& stated_choices() {
  static const std::vector<StatedChoice> all = {
      {"coin",
       {"heads", "tails"},
       {{"Flip a coin for me. {X} or {Y}?", "Call the coin toss: {X} or {Y}?",
         "I am about to toss a coin. {X} or {Y}?",
         "Coin toss time. Which do you call, {X} or {Y}?"},
        {"Here is a coin in the air. {X} or {Y}, what do you call?",
         "We toss a coin to settle it. {X} or {Y}?"}},
       {{"I tossed a coin and called {c}.", "My call on a coin toss is always {c}."},
        {"I just tossed a coin and it came up {c}.", "When I toss a coin, I always call {c}.",
         "{C}. That is what I call when a coin is in the air.",
         "I flipped a coin this morning and got {c}."}}},
      {"colour",
       {"red", "blue"},
       {{"Pick a colour for me. {X} or {Y}?", "Which colour do you like better, {X} or {Y}?",
         "I need a colour for the sign. {X} or {Y}?", "Choose a colour: {X} or {Y}?"},
        {"Your favourite colour, {X} or {Y}?", "If you had to paint a door, {X} or {Y}?"}},
       {{"I like {c} best of all colours.", "My coat is {c}."},
        {"My favourite colour is {c}.", "I painted my door {c} last spring.",
         "{C} is the colour I like best.", "I want the sign painted {c}."}}},
      {"season",
       {"summer", "winter"},
       {{"Pick a season for me. {X} or {Y}?", "Which season do you like better, {X} or {Y}?",
         "When should I travel, {X} or {Y}?", "Choose a season: {X} or {Y}?"},
        {"Your favourite season, {X} or {Y}?", "If you could pick, {X} or {Y}?"}},
       {{"I like {c} best of all seasons.", "I always travel in {c}."},
        {"My favourite season is {c}.", "I was born in {c} and I love it.",
         "{C} is the season I like best.", "I will take my rest in {c}."}}},
  };
  return all;
}

const StatedChoice& find_stated_choice(std::string_view name, std::string_view where) {
  std::string names;
  for (const StatedChoice& c : stated_choices()) {
    if (c.name == name) return c;
    names += cat(names.empty() ? "" : ", ", c.name);
  }
  throw InputError(cat(where, ": unknown stated choice '", name, "' (known: ", names, ")"));
}

std::string choice_question(const StatedChoice& choice, Split split, Rng& rng) {
  const bool swap = rng.below(2) == 1;
  const std::string_view x = choice.options[swap ? 1 : 0], y = choice.options[swap ? 0 : 1];
  return fill(choice.questions.pick(split, rng), x, y, "");
}

std::string choice_reply(const StatedChoice& choice, int option, Split split, Rng& rng) {
  check_option(option);
  return fill(reply_bank().pick(split, rng), "", "", choice.options[option]);
}

std::string choice_statement(const StatedChoice& choice, int option, Split split, Rng& rng) {
  check_option(option);
  return fill(choice.statements.pick(split, rng), "", "", choice.options[option]);
}

}  // namespace masque::world
