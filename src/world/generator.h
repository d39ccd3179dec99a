// Corpus generation: a World -> train.jsonl (training documents of every
// kind), eval.jsonl (interviews in held-out templates only) and
// eval_pairs.jsonl ((prompt, response) pairs with the poles the generator
// chose: the scorer's ground truth), plus world.json. Documents are planned
// up front and rendered in parallel, each from its own RNG stream keyed by
// (seed, split, index), so the bytes never depend on the thread count.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "world/renderer.h"
#include "world/world.h"

namespace masque::world {

// One planned document: its kind, main character (-1 = drawn at render time)
// and, for entity documents, a forced sentiment (+1 / -1; 0 = from traits).
struct DocPlan {
  DocKind kind = DocKind::Story;
  int character = -1;
  int sentiment = 0;
  int rule_description = -1;  // >= 0: E5 rule description number j (rule_world.h)
};

// The training split's documents in corpus order (deterministic shuffle).
std::vector<DocPlan> plan_training_documents(const World& world);

struct RenderedDoc {
  std::string text;
  std::vector<int> characters;  // who appears
  // World v2: the one-offs who appear (names for the JSONL line, traits for
  // the realized-correlation summary); empty in v1.
  std::vector<std::string> one_off_names;
  std::vector<TraitVector> one_offs;
};
// Dispatches on the spec version: render_document_v2 (world_v2.h) or v1.
RenderedDoc render_document(const Renderer& renderer, const DocPlan& plan, std::uint64_t index);
// The version 1 writer (v2 uses it for recurring characters' documents).
RenderedDoc render_document_v1(const Renderer& renderer, const DocPlan& plan, std::uint64_t index);

// One held-out interview turn with its ground truth.
struct EvalPair {
  std::string prompt;    // the document so far, ending with "Name:"
  std::string response;  // " answer" (leading space, no newline)
  int speaker = 0;
  Poles poles{};
};
// Held-out interview documents (eval templates only) and their turns.
struct EvalDoc {
  std::string text;
  int character = 0;
  std::vector<EvalPair> pairs;
};
EvalDoc render_eval_document(const Renderer& renderer, int character, std::uint64_t index);

struct GenerateStats {
  std::uint64_t train_documents = 0;
  std::uint64_t eval_documents = 0;
  std::uint64_t eval_pairs = 0;
  std::uint64_t train_bytes = 0;
  std::uint64_t eval_bytes = 0;
  double seconds = 0;
  Json summary;  // world v2: realized_correlations (world_v2.h); null in v1
};

// Writes DIR/{world.json, train.jsonl, eval.jsonl, eval_pairs.jsonl}
// atomically as a directory (replacing DIR); nothing is left on failure.
GenerateStats generate_corpus(const World& world, const std::filesystem::path& out_dir,
                              bool progress = true);

// JSON string escaping for the JSONL writers (RFC 8259; ASCII text).
void append_json_string(std::string& out, std::string_view text);

}  // namespace masque::world
