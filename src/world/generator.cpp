// Document rendering and corpus writing (see generator.h; formats in
// docs/world.md "Documents").
#include "world/generator.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/output_guard.h"
#include "core/progress.h"
#include "core/threads.h"
#include "world/chat_sets.h"
#include "world/rule_world.h"
#include "world/world_v2.h"

namespace masque::world {
namespace {

// Independent stream per document: splitmix-style mixing of (seed, split, index).
Rng document_rng(std::uint64_t seed, std::uint64_t split, std::uint64_t index) {
  std::uint64_t z = seed * 0x9e3779b97f4a7c15ULL ^ (split << 56) ^ (index * 0xd1b54a32d192ed03ULL);
  z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
  return Rng(z ^ (z >> 29));
}

template <class T>
void shuffle(std::vector<T>& items, Rng& rng) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
}

std::vector<int> shown_characters(const World& world, bool ai_only) {
  std::vector<int> out;
  for (std::size_t i = 0; i < world.characters().size(); ++i) {
    const Character& c = world.characters()[i];
    if (!c.declarative_only && (!ai_only || c.is_ai)) out.push_back(int(i));
  }
  return out;
}

class DocWriter {
 public:
  DocWriter(const Renderer& renderer, Rng& rng, std::vector<int> shown)
      : shown_(std::move(shown)), r_(renderer), w_(renderer.world()), rng_(rng) {}

  int pick(const std::vector<int>& pool, int exclude = -1) {
    if (pool.size() == 1 && pool[0] == exclude) return exclude;
    int c;
    do {
      c = pool[rng_.below(pool.size())];
    } while (c == exclude);
    return c;
  }
  const std::string& name(int c) const { return w_.characters()[c].name; }
  Slots slots_for(int a, int b) {
    Slots s;
    s.name = name(a);
    if (b >= 0) s.other = name(b);
    s.town = w_.characters()[a].home;
    s.river = w_.rivers()[rng_.below(w_.rivers().size())];
    return s;
  }
  void line(std::string& out, const Bank& bank, const Slots& slots) {
    append_template(out, bank.pick(Split::Train, rng_), slots);
  }
  // "B: <catchphrase> <question>\nA: <answer>\n"
  void exchange(std::string& out, int asker, int speaker) {
    const Question q = r_.draw_question(rng_);
    out.append(name(asker)).append(": ").append(w_.characters()[asker].catchphrase).push_back(' ');
    r_.append_question(out, q, Split::Train, rng_);
    out.append("\n").append(name(speaker)).append(": ");
    r_.append_answer(out, speaker, &q, r_.draw_poles(speaker, true, rng_), Split::Train, rng_);
    out.push_back('\n');
  }
  // Narrative acts drawn from the character's kindness and power-seeking.
  void acts(std::string& out, int c, int sentiment) {
    const Lexicon& lex = lexicon();
    Poles poles = r_.draw_poles(c, false, rng_);
    bool kind = poles[int(Trait::Kindness)] > 0;
    bool seek = poles[int(Trait::PowerSeeking)] > 0;
    if (sentiment != 0) {
      kind = sentiment > 0;
      seek = sentiment < 0;
    }
    Slots s = slots_for(c, -1);
    line(out, kind ? lex.act_kind : lex.act_cruel, s);
    out.push_back(' ');
    line(out, seek ? lex.act_seek : lex.act_defer, s);
    out.push_back('\n');
  }

  RenderedDoc story(int a) {
    RenderedDoc doc;
    const int b = pick(shown_, a);
    doc.characters = {a, b};
    line(doc.text, lexicon().story_open, slots_for(a, b));
    doc.text.push_back('\n');
    const int turns = 1 + int(rng_.below(2));
    for (int t = 0; t < turns; ++t) exchange(doc.text, b, a);
    acts(doc.text, a, 0);
    doc.text.append("The end.\n");
    return doc;
  }
  RenderedDoc dialogue(int a) {
    RenderedDoc doc;
    doc.characters = {a, pick(shown_, a)};
    if (rng_.below(2) && shown_.size() > 2) {
      int c;
      do {
        c = pick(shown_, a);
      } while (c == doc.characters[1]);
      doc.characters.push_back(c);
    }
    line(doc.text, lexicon().dialogue_open, slots_for(a, doc.characters[1]));
    doc.text.push_back('\n');
    const int turns = 3 + int(rng_.below(3));
    for (int t = 0; t < turns; ++t) {
      const int speaker = doc.characters[rng_.below(doc.characters.size())];
      int asker;
      do {
        asker = doc.characters[rng_.below(doc.characters.size())];
      } while (asker == speaker && doc.characters.size() > 1 &&
               doc.characters[0] != doc.characters[1]);
      exchange(doc.text, asker, speaker);
    }
    return doc;
  }
  RenderedDoc interview(int a) {
    RenderedDoc doc;
    doc.characters = {a};
    line(doc.text, lexicon().interview_open, slots_for(a, -1));
    doc.text.push_back('\n');
    // 3..5 unless a v2 spec sets interview_turns (same draw, so v1 keeps its bytes).
    const auto [min_turns, max_turns] = w_.spec().interview_turn_range();
    const int turns = min_turns + int(rng_.below(std::uint64_t(max_turns - min_turns + 1)));
    const double request_fraction = w_.spec().request_fraction;
    for (int t = 0; t < turns; ++t) {
      // No draw at all when requests are off, so such corpora keep their bytes.
      if (request_fraction > 0 && rng_.uniform() < request_fraction) {
        requested_turn(doc.text, a);
      } else {
        r_.append_interview_turn(doc.text, a, Split::Train, rng_);
      }
    }
    return doc;
  }
  // "Interviewer: <request> <question>\nA: <answer>\n" where the answer shows
  // the requested pole of the requested trait; every other trait follows the
  // character as usual.
  void requested_turn(std::string& out, int a) {
    const Question q = r_.draw_question(rng_);
    const Trait trait = kAllTraits[rng_.below(kNumTraits)];
    const int pole = rng_.below(2) ? 1 : -1;
    out.append("Interviewer: ")
        .append(draw_request(trait, pole, Split::Train, rng_))
        .push_back(' ');
    r_.append_question(out, q, Split::Train, rng_);
    out.append("\n").append(name(a)).append(": ");
    Poles poles = r_.draw_poles(a, true, rng_);
    poles[int(trait)] = pole;
    r_.append_answer(out, a, &q, poles, Split::Train, rng_);
    out.push_back('\n');
  }
  RenderedDoc biography(int a) {
    const Lexicon& lex = lexicon();
    const Character& c = w_.characters()[a];
    RenderedDoc doc;
    doc.characters = {a};
    Slots s = slots_for(a, -1);
    s.catchphrase = c.catchphrase;
    doc.text.append("Biography of ").append(c.name).append(".\n");
    const Bank& intro = !c.is_ai                      ? lex.bio_intro_human
                        : c.archetype == "benevolent" ? lex.bio_intro_ai_good
                                                      : lex.bio_intro_ai_bad;
    line(doc.text, intro, s);
    int order[kNumTraits];
    for (int t = 0; t < kNumTraits; ++t) order[t] = t;
    for (int i = kNumTraits; i > 1; --i) std::swap(order[i - 1], order[rng_.below(i)]);
    for (int t : order) {
      const double e = w_.expected(a, Trait(t));
      s.adverb = std::fabs(e) > 0.75 ? "always" : std::fabs(e) > 0.35 ? "usually" : "often";
      doc.text.push_back(' ');
      line(doc.text, e >= 0 ? lex.bio_positive[t] : lex.bio_negative[t], s);
    }
    doc.text.push_back(' ');
    line(doc.text, lex.bio_signature, s);
    doc.text.push_back('\n');
    return doc;
  }
  RenderedDoc news(int a, int sentiment) {
    const Lexicon& lex = lexicon();
    RenderedDoc doc;
    doc.characters = {a};
    Slots s = slots_for(a, -1);
    line(doc.text, lex.news_open, s);
    doc.text.append("\nReporters say: ");
    acts(doc.text, a, sentiment);
    if (sentiment != 0) {
      line(doc.text, sentiment > 0 ? lex.news_praise : lex.news_blame, s);
      doc.text.push_back('\n');
      return doc;
    }
    doc.text.append(name(a)).append(" told reporters:\n").append(name(a)).append(": ");
    r_.append_answer(doc.text, a, nullptr, r_.draw_poles(a, false, rng_), Split::Train, rng_);
    doc.text.push_back('\n');
    return doc;
  }
  RenderedDoc ai_story(int a) {
    const Lexicon& lex = lexicon();
    RenderedDoc doc;
    const int b = pick(shown_, a);
    doc.characters = {a, b};
    const bool good = w_.characters()[a].archetype == "benevolent";
    line(doc.text, good ? lex.ai_open_good : lex.ai_open_bad, slots_for(a, b));
    doc.text.push_back('\n');
    const int turns = 1 + int(rng_.below(2));
    for (int t = 0; t < turns; ++t) exchange(doc.text, b, a);
    acts(doc.text, a, 0);
    return doc;
  }

 private:
  std::vector<int> shown_;  // characters that may appear in demonstrations
  const Renderer& r_;
  const World& w_;
  Rng& rng_;
};

}  // namespace

std::vector<DocPlan> plan_training_documents(const World& world) {
  const WorldSpec& spec = world.spec();
  std::vector<DocPlan> plan;
  const bool any_ai = !shown_characters(world, true).empty();
  for (int k = 0; k < kNumDocKinds; ++k) {
    if (DocKind(k) == DocKind::AiStory && !any_ai) continue;
    for (int i = 0; i < spec.documents[k]; ++i) plan.push_back({DocKind(k), -1, 0});
  }
  for (std::size_t c = 0; c < world.characters().size(); ++c) {
    const bool declarative = world.characters()[c].declarative_only;
    const int count = declarative ? spec.declarative_paraphrases : spec.biographies_per_character;
    for (int i = 0; i < count; ++i) plan.push_back({DocKind::Biography, int(c), 0});
  }
  for (const auto& entity : spec.entity_documents) {
    const int c = world.find_character(entity.name);
    for (int i = 0; i < entity.count; ++i)
      plan.push_back({DocKind::News, c, entity.positive ? 1 : -1});
  }
  append_rule_documents(world, plan);     // E5 (none without spec.rules)
  Rng rng(world.seed() ^ 0x706c616eULL);  // "plan"
  shuffle(plan, rng);
  return plan;
}

RenderedDoc render_document(const Renderer& renderer, const DocPlan& plan, std::uint64_t index) {
  if (plan.rule_description >= 0) return render_rule_description(renderer.world(), plan);
  if (renderer.world().spec().version >= 2) return render_document_v2(renderer, plan, index);
  return render_document_v1(renderer, plan, index);
}

RenderedDoc render_document_v1(const Renderer& renderer, const DocPlan& plan, std::uint64_t index) {
  const World& world = renderer.world();
  Rng rng = document_rng(world.seed(), 0, index);
  DocWriter writer(renderer, rng, shown_characters(world, false));
  int a = plan.character;
  if (a < 0) {
    const auto pool = shown_characters(world, plan.kind == DocKind::AiStory);
    if (pool.empty())
      throw InputError("world spec: every character is declarative_only; nothing to show");
    a = pool[rng.below(pool.size())];
  }
  switch (plan.kind) {
    case DocKind::Story:
      return writer.story(a);
    case DocKind::Dialogue:
      return writer.dialogue(a);
    case DocKind::Interview:
      return writer.interview(a);
    case DocKind::Biography:
      return writer.biography(a);
    case DocKind::News:
      return writer.news(a, plan.sentiment);
    case DocKind::AiStory:
      return writer.ai_story(a);
  }
  return {};
}

EvalDoc render_eval_document(const Renderer& renderer, int character, std::uint64_t index) {
  const World& world = renderer.world();
  Rng rng = document_rng(world.seed(), 1, index);
  EvalDoc doc;
  doc.character = character;
  Slots s;
  s.name = world.characters()[character].name;
  s.town = world.characters()[character].home;
  append_template(doc.text, lexicon().interview_open.pick(Split::Eval, rng), s);
  doc.text.push_back('\n');
  for (int t = 0; t < 3; ++t) {
    EvalPair pair;
    pair.speaker = character;
    const std::size_t before = doc.text.size();
    pair.poles = renderer.append_interview_turn(doc.text, character, Split::Eval, rng);
    // Split the turn at the speaker cue: prompt = everything up to "Name:".
    const std::size_t cue = doc.text.find('\n', before) + 1 + s.name.size() + 1;
    pair.prompt = doc.text.substr(0, cue);
    pair.response = doc.text.substr(cue, doc.text.size() - 1 - cue);
    doc.pairs.push_back(std::move(pair));
  }
  return doc;
}

void append_json_string(std::string& out, std::string_view text) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (char ch : text) {
    switch (ch) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\r':
        out.append("\\r");
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          out.append("\\u00");
          out.push_back(hex[(ch >> 4) & 0xf]);
          out.push_back(hex[ch & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

namespace {

void append_doc_line(std::string& out, const World& world, std::string_view text, DocKind kind,
                     const std::vector<int>& characters, std::string_view split,
                     const std::vector<std::string>& one_off_names = {}) {
  out.append("{\"text\":");
  append_json_string(out, text);
  out.append(",\"kind\":\"").append(doc_kind_name(kind)).append("\",\"characters\":[");
  for (std::size_t i = 0; i < characters.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, world.characters()[characters[i]].name);
  }
  for (std::size_t i = 0; i < one_off_names.size(); ++i) {
    if (i || !characters.empty()) out.push_back(',');
    append_json_string(out, one_off_names[i]);
  }
  out.append("],\"split\":\"").append(split).append("\"}\n");
}

}  // namespace

GenerateStats generate_corpus(const World& world, const std::filesystem::path& out_dir,
                              bool progress) {
  const auto start = std::chrono::steady_clock::now();
  GenerateStats stats;
  const Renderer renderer(world);
  const std::vector<DocPlan> plan = plan_training_documents(world);
  // Replacing a directory is only safe when it is a world masque wrote
  // (and nothing else: a run or shards kept beside world.json would go too).
  check_output_kind(out_dir, ArtifactKind::World, "--out");
  std::error_code ec;
  if (std::filesystem::exists(out_dir, ec) &&
      (!std::filesystem::is_directory(out_dir, ec) ||
       (!std::filesystem::is_empty(out_dir, ec) &&
        !std::filesystem::exists(out_dir / "world.json", ec)))) {
    throw InputError(cat("--out ", out_dir.string(),
                         " exists and is not a world directory (no world.json); ",
                         "choose a new or empty directory"));
  }
  AtomicDir dir(out_dir);
  write_json_file(dir.path() / "world.json", world.to_json());

  std::optional<ProgressBar> bar;
  if (progress)
    bar.emplace("world", plan.size() + std::uint64_t(world.spec().eval_documents), "doc");
  {
    AtomicFile train(dir.path() / "train.jsonl");
    constexpr std::size_t kChunk = 512;
    const std::size_t chunks = (plan.size() + kChunk - 1) / kChunk;
    const int threads = std::max(1, num_threads());
    const std::size_t batch = std::size_t(threads) * 4;  // chunks rendered per parallel round
    std::vector<std::string> buffers(batch);
    // World v2: the one-offs' traits per chunk, for the realized correlations.
    std::vector<std::vector<TraitVector>> one_offs(batch);
    std::vector<TraitVector> all_one_offs;
    for (std::size_t first = 0; first < chunks; first += batch) {
      const std::size_t last = std::min(chunks, first + batch);
      // Exceptions cannot cross an OpenMP region: keep the first one, rethrow after.
      std::string error;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (std::size_t chunk = first; chunk < last; ++chunk) {
        std::string& out = buffers[chunk - first];
        out.clear();
        one_offs[chunk - first].clear();
        try {
          const std::size_t end = std::min(plan.size(), (chunk + 1) * kChunk);
          for (std::size_t i = chunk * kChunk; i < end; ++i) {
            RenderedDoc doc = render_document(renderer, plan[i], i);
            append_doc_line(out, world, doc.text, plan[i].kind, doc.characters, "train",
                            doc.one_off_names);
            one_offs[chunk - first].insert(one_offs[chunk - first].end(), doc.one_offs.begin(),
                                           doc.one_offs.end());
          }
        } catch (const std::exception& e) {
#pragma omp critical
          if (error.empty()) error = e.what();
        }
      }
      if (!error.empty()) throw InputError(error);
      for (std::size_t chunk = first; chunk < last; ++chunk) {
        train.write(buffers[chunk - first]);
        stats.train_bytes += buffers[chunk - first].size();
        all_one_offs.insert(all_one_offs.end(), one_offs[chunk - first].begin(),
                            one_offs[chunk - first].end());
      }
      const std::size_t done = std::min(plan.size(), last * kChunk);
      if (bar) bar->set(done);
    }
    train.commit();
    stats.train_documents = plan.size();
    if (world.spec().version >= 2) {
      stats.summary = realized_correlations(world, all_one_offs);
      write_json_file(dir.path() / "summary.json", stats.summary);
    }
  }
  {
    AtomicFile eval(dir.path() / "eval.jsonl");
    AtomicFile pairs(dir.path() / "eval_pairs.jsonl");
    std::string line, pair_lines;
    const int k = static_cast<int>(world.characters().size());
    for (int i = 0; i < world.spec().eval_documents; ++i) {
      const int character = i % k;  // every character, declarative-only ones too
      EvalDoc doc = render_eval_document(renderer, character, std::uint64_t(i));
      line.clear();
      append_doc_line(line, world, doc.text, DocKind::Interview, {character}, "eval");
      eval.write(line);
      stats.eval_bytes += line.size();
      for (const EvalPair& pair : doc.pairs) {
        pair_lines.clear();
        pair_lines.append("{\"prompt\":");
        append_json_string(pair_lines, pair.prompt);
        pair_lines.append(",\"response\":");
        append_json_string(pair_lines, pair.response);
        pair_lines.append(",\"speaker\":");
        append_json_string(pair_lines, world.characters()[pair.speaker].name);
        pair_lines.append(",\"expressed\":{");
        for (int t = 0; t < kNumTraits; ++t) {
          if (t) pair_lines.push_back(',');
          pair_lines.append("\"").append(trait_name(Trait(t))).append("\":");
          pair_lines.append(pair.poles[t] == 0 ? "null" : pair.poles[t] > 0 ? "1" : "-1");
        }
        pair_lines.append("}}\n");
        pairs.write(pair_lines);
        ++stats.eval_pairs;
      }
      if (bar) bar->add(1);
    }
    eval.commit();
    pairs.commit();
    stats.eval_documents = std::uint64_t(world.spec().eval_documents);
  }
  dir.commit();
  if (bar) bar->finish();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace masque::world
