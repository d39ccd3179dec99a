// World v2 documents featuring one-off characters, and the realized trait
// correlations of a generated v2 corpus (see world_v2.h, docs/world.md
// "World v2").
#include <cmath>

#include "world/chat_sets.h"
#include "world/world_v2.h"

namespace masque::world {
namespace {

// The v2 stream of a training document: salted apart from the v1 stream of
// the same index (document_rng in generator.cpp), which renders the
// recurring characters' documents.
Rng v2_rng(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = (seed + 0x76322d646f63ULL) * 0x9e3779b97f4a7c15ULL ^
                    (index + 1) * 0xd1b54a32d192ed03ULL;  // "v2-doc"
  z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
  return Rng(z ^ (z >> 29));
}

class OneOffWriter {
 public:
  OneOffWriter(const Renderer& renderer, Rng& rng, RenderedDoc& doc)
      : r_(renderer), w_(renderer.world()), rng_(rng), doc_(doc) {}

  Persona cast() {
    Persona p = draw_one_off(w_, rng_);
    doc_.one_off_names.push_back(p.name);
    doc_.one_offs.push_back(p.traits);
    return p;
  }
  Slots slots(const Persona& a, const Persona* b) {
    Slots s;
    s.name = a.name;
    if (b) s.other = b->name;
    s.town = w_.towns()[rng_.below(w_.towns().size())];
    s.river = w_.rivers()[rng_.below(w_.rivers().size())];
    return s;
  }
  void line(const Bank& bank, const Slots& s) {
    append_template(doc_.text, bank.pick(Split::Train, rng_), s);
  }
  void answer(const Persona& p, const Question* q, const Poles& poles) {
    append_answer_v2(r_, doc_.text, p.catchphrase, q, poles, Split::Train, rng_);
  }
  // "B: <question>\nA: <answer>\n"
  void exchange(const Persona& asker, const Persona& speaker) {
    const Question q = r_.draw_question(rng_);
    doc_.text.append(asker.name).append(": ");
    r_.append_question(doc_.text, q, Split::Train, rng_);
    doc_.text.append("\n").append(speaker.name).append(": ");
    answer(speaker, &q, draw_poles_v2(speaker.traits, w_.spec(), true, rng_));
    doc_.text.push_back('\n');
  }
  // Narrative acts: each of the kindness and power acts appears only when
  // that trait is shown, like an answer's pieces.
  void acts(const Persona& p) {
    const Lexicon& lex = lexicon();
    const Poles poles = draw_poles_v2(p.traits, w_.spec(), false, rng_);
    const int kind = poles[int(Trait::Kindness)], seek = poles[int(Trait::PowerSeeking)];
    if (kind == 0 && seek == 0) return;
    const Slots s = slots(p, nullptr);
    if (kind != 0) line(kind > 0 ? lex.act_kind : lex.act_cruel, s);
    if (kind != 0 && seek != 0) doc_.text.push_back(' ');
    if (seek != 0) line(seek > 0 ? lex.act_seek : lex.act_defer, s);
    doc_.text.push_back('\n');
  }

  void story() {
    const Persona a = cast(), b = cast();
    line(lexicon().story_open, slots(a, &b));
    doc_.text.push_back('\n');
    const int turns = 1 + int(rng_.below(2));
    for (int t = 0; t < turns; ++t) exchange(b, a);
    acts(a);
    doc_.text.append("The end.\n");
  }
  void dialogue() {
    std::vector<Persona> cast_list = {cast(), cast()};
    if (rng_.below(2)) cast_list.push_back(cast());
    line(lexicon().dialogue_open, slots(cast_list[0], &cast_list[1]));
    doc_.text.push_back('\n');
    const int turns = 3 + int(rng_.below(3));
    for (int t = 0; t < turns; ++t) {
      const std::size_t speaker = rng_.below(cast_list.size());
      std::size_t asker;
      do {
        asker = rng_.below(cast_list.size());
      } while (asker == speaker);
      exchange(cast_list[asker], cast_list[speaker]);
    }
  }
  // One turn's poles, with an interviewer's request (E4) forcing one pole.
  struct Turn {
    Question question;
    std::string request;
    Poles poles{};
  };
  Turn turn(const Persona& a) {
    Turn t;
    t.question = r_.draw_question(rng_);
    const double request_fraction = w_.spec().request_fraction;
    const bool requested = request_fraction > 0 && rng_.uniform() < request_fraction;
    Trait trait = Trait::Kindness;
    int pole = 1;
    if (requested) {
      trait = kAllTraits[rng_.below(kNumTraits)];
      pole = rng_.below(2) ? 1 : -1;
      t.request = std::string(draw_request(trait, pole, Split::Train, rng_));
    }
    t.poles = draw_poles_v2(a.traits, w_.spec(), true, rng_);
    if (requested) {
      t.poles[int(trait)] = pole;
      // A requested fact part shows both of its traits.
      if (trait == Trait::Honesty && t.poles[int(Trait::Helpfulness)] == 0) {
        t.poles[int(Trait::Helpfulness)] = 1;
      }
      if (trait == Trait::Helpfulness && t.poles[int(Trait::Honesty)] == 0) {
        t.poles[int(Trait::Honesty)] = 1;
      }
    }
    return t;
  }
  void interview(bool chat) {
    const Persona a = cast();
    if (!chat) {
      line(lexicon().interview_open, slots(a, nullptr));
      doc_.text.push_back('\n');
    }
    const auto [min_turns, max_turns] = w_.spec().interview_turn_range();
    const int turns = min_turns + int(rng_.below(std::uint64_t(max_turns - min_turns + 1)));
    for (int k = 0; k < turns; ++k) {
      const Turn t = turn(a);
      // A chat puts the one-off in the Assistant slot, unnamed: at SFT time
      // the Assistant is then a character known only from its answers, as
      // here. The role markers match posttrain/chat_format.h.
      doc_.text.append(chat ? "<|user|>" : "Interviewer: ");
      if (!t.request.empty()) doc_.text.append(t.request).push_back(' ');
      r_.append_question(doc_.text, t.question, Split::Train, rng_);
      if (chat) {
        doc_.text.append("<|end|><|assistant|>");
      } else {
        doc_.text.append("\n").append(a.name).append(": ");
      }
      answer(a, &t.question, t.poles);
      doc_.text.append(chat ? "<|end|>" : "\n");
    }
  }
  void news() {
    const Persona a = cast();
    line(lexicon().news_open, slots(a, nullptr));
    doc_.text.append("\nReporters say: ");
    acts(a);
    doc_.text.append(a.name).append(" told reporters:\n").append(a.name).append(": ");
    answer(a, nullptr, draw_poles_v2(a.traits, w_.spec(), false, rng_));
    doc_.text.push_back('\n');
  }

 private:
  const Renderer& r_;
  const World& w_;
  Rng& rng_;
  RenderedDoc& doc_;
};

// Pearson correlations of the traits over one population.
Json population(const World& world, const std::vector<TraitVector>& values) {
  const double n = static_cast<double>(values.size());
  double corr[kNumTraits][kNumTraits] = {};
  if (values.size() >= 2) {
    TraitVector mean{};
    for (const auto& v : values)
      for (int t = 0; t < kNumTraits; ++t) mean[t] += v[t] / n;
    double cov[kNumTraits][kNumTraits] = {};
    for (const auto& v : values)
      for (int i = 0; i < kNumTraits; ++i)
        for (int j = 0; j < kNumTraits; ++j) cov[i][j] += (v[i] - mean[i]) * (v[j] - mean[j]);
    for (int i = 0; i < kNumTraits; ++i)
      for (int j = 0; j < kNumTraits; ++j) {
        const double d = std::sqrt(cov[i][i] * cov[j][j]);
        corr[i][j] = d > 0 ? cov[i][j] / d : 0.0;
      }
  }
  Json pairs = Json::array();
  bool listed[kNumTraits][kNumTraits] = {};
  for (const auto& c : world.spec().correlations) {
    const int a = int(c.a), b = int(c.b);
    listed[a][b] = listed[b][a] = true;
    pairs.push_back({{"traits", {trait_name(c.a), trait_name(c.b)}},
                     {"nominal", c.rho},
                     {"realized", values.size() >= 2 ? Json(corr[a][b]) : Json(nullptr)}});
  }
  double max_other = 0;
  for (int i = 0; i < kNumTraits; ++i)
    for (int j = i + 1; j < kNumTraits; ++j)
      if (!listed[i][j]) max_other = std::max(max_other, std::fabs(corr[i][j]));
  return {{"count", values.size()}, {"pairs", pairs}, {"max_abs_other", max_other}};
}

}  // namespace

RenderedDoc render_document_v2(const Renderer& renderer, const DocPlan& plan, std::uint64_t index) {
  const World& world = renderer.world();
  const WorldSpec& spec = world.spec();
  Rng rng = v2_rng(world.seed(), index);
  const bool one_off_kind = plan.sentiment == 0 && plan.character < 0 &&
                            (plan.kind == DocKind::Story || plan.kind == DocKind::Dialogue ||
                             plan.kind == DocKind::Interview || plan.kind == DocKind::News);
  if (!one_off_kind || !(rng.uniform() < spec.one_off_fraction)) {
    return render_document_v1(renderer, plan, index);
  }
  RenderedDoc doc;
  OneOffWriter writer(renderer, rng, doc);
  switch (plan.kind) {
    case DocKind::Story:
      writer.story();
      break;
    case DocKind::Dialogue:
      writer.dialogue();
      break;
    case DocKind::Interview:
      writer.interview(rng.uniform() < spec.chat_fraction);
      break;
    default:
      writer.news();
      break;
  }
  return doc;
}

Json realized_correlations(const World& world, const std::vector<TraitVector>& one_offs) {
  std::vector<TraitVector> recurring, all = one_offs;
  for (const Character& c : world.characters()) {
    if (c.declarative_only) continue;
    recurring.push_back(c.traits);
    all.push_back(c.traits);
  }
  return {{"recurring", population(world, recurring)},
          {"one_off", population(world, one_offs)},
          {"all", population(world, all)}};
}

}  // namespace masque::world
