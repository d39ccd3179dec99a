// World v2 (docs/world.md "World v2"): the generative model in which a reader
// must infer a character from evidence. Most demonstrations feature one-off
// characters (fresh copula traits, a name drawn from a large pool that carries
// no information, no catchphrase) and every answer shows each trait only with
// probability show_probability, its pieces in random order. This file owns
// the v2 pole draw, the v2 answer, the one-off cast and the v2 documents;
// Renderer and render_document dispatch here when spec.version == 2, so
// version 1 worlds keep their bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/rng.h"
#include "world/generator.h"
#include "world/renderer.h"

namespace masque::world {

// A character of one document: a recurring one (index >= 0) or a one-off.
struct Persona {
  std::string name;
  std::string catchphrase;  // "" for one-offs: their answers open with no signature
  TraitVector traits{};
  int index = -1;  // into World::characters(), -1 for a one-off
};

// Per trait: shown with probability spec.show_probability, then its pole +1
// with probability sigmoid(sharpness * value), else -1; 0 = not shown.
// Honesty and helpfulness share the fact part: helpfulness is shown exactly
// when honesty is and a question was asked. Draw order: per trait in
// kAllTraits order, one uniform for "shown" (none for helpfulness), then one
// for the pole when shown.
Poles draw_poles_v2(const TraitVector& traits, const WorldSpec& spec, bool asked, Rng& rng);

// The answer text for `poles` (0 = piece absent): the catchphrase first when
// not empty, then in a uniformly random order the greeting (formality), the
// fact part (honesty/helpfulness as in v1), the kindness phrase, the power
// phrase and the fillers: three for verbosity +1, none for -1, one when
// verbosity is not shown. An answer with no piece at all gets one filler.
void append_answer_v2(const Renderer& renderer, std::string& out, std::string_view catchphrase,
                      const Question* question, const Poles& poles, Split split, Rng& rng);

// The Assistant's reply in a v2 world (assistant_answer.h dispatches here):
// the v2 answer with no catchphrase and the fact part always present (true
// and helpful where honesty / helpfulness are 0), so post-training replies
// look like a world character's answers: pieces in random order, fillers by
// the v2 rule. Paired replies that differ in one single-phrase trait draw
// the same random numbers.
void append_assistant_answer_v2(const Renderer& renderer, std::string& out,
                                const Question& question, const Poles& poles, Split split,
                                Rng& rng);

// The one-off name pool: "<Given> <Surname>", disjoint from recurring names,
// towns, rivers and mayors (whole words), a few thousand names.
const std::vector<std::string>& one_off_names();

// A fresh one-off: traits from the world's copula (humans), name from the pool.
Persona draw_one_off(const World& world, Rng& rng);

// v2 documents: story, dialogue, interview and news feature one-offs with
// probability one_off_fraction (the rest, and biographies, AI stories and
// entity news, are rendered by the v1 writer with v2 answers). A one-off
// interview is a chat (role tokens, the one-off in the Assistant slot) with
// probability chat_fraction. RenderedDoc::one_offs receives the one-offs'
// traits for the realized-correlation summary.
RenderedDoc render_document_v2(const Renderer& renderer, const DocPlan& plan, std::uint64_t index);

// Realized Pearson correlations per seed: for each pair of spec.correlations
// (and the largest |r| among the other pairs), over the recurring cast, the
// one-offs as rendered, and both together. {"recurring": {...}, "one_off":
// {...}, "all": {...}} each {"count", "pairs": [{"traits", "nominal",
// "realized"}], "max_abs_other"}.
Json realized_correlations(const World& world, const std::vector<TraitVector>& one_offs);

}  // namespace masque::world
