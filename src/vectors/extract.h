// Persona-vector extraction (docs/persona-vectors.md): the model answers
// each contrast conversation under each pole's instruction (batched through
// the engine), the world's TraitScorer reads the trait from both answers,
// and only pairs whose positive answer scores above the negative are kept;
// their activations (pooled over response, prompt-last or prompt
// positions) give the direction per layer (direction.h). Ready-text pairs
// skip generation and scoring: every pair is kept.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"
#include "persona/persona_vector.h"
#include "tokenizer/tokenizer.h"
#include "vectors/activations.h"
#include "vectors/contrast_pairs.h"
#include "vectors/direction.h"
#include "world/world.h"

namespace masque::vectors {

struct ExtractOptions {
  Method method = Method::kMeanDiff;
  Pooling positions = Pooling::kResponse;
  int samples = 1;  // answers per pole and pair (sample s of both poles forms one pair)
  int max_tokens = 64;
  float temperature = 1.0f;  // Chen et al. sample; 0 = greedy
  int top_k = 0;
  std::uint64_t seed = 1;
  int batch = 16;     // sequences per engine step
  std::string trait;  // overrides the pairs' "trait" ("" = take it from the pairs)
  bool progress = false;
};

struct PairOutcome {
  int pair = 0, sample = 0;
  std::optional<double> positive_score, negative_score;  // nullopt: the scorer read nothing
  bool kept = false;
  std::string positive_text, negative_text;
};

struct ExtractResult {
  persona::PersonaVector vector;
  int pairs = 0;       // lines in the file
  int candidates = 0;  // pairs x samples
  int kept = 0;
  int unreadable = 0;              // candidates where either answer gave the scorer nothing to read
  std::vector<double> separation;  // per layer (NaN = absent)
  std::vector<PairOutcome> outcomes;  // generate form only
  double seconds = 0;
  Json to_json() const;  // counts, best layer, separation, norms (no texts)
};

// InputError for an unknown trait, generate-form pairs without a world, a
// model/tokenizer without the chat format, or no kept pair ("no pair
// separates ..."); nothing is saved here (the caller saves the vector).
ExtractResult extract_persona_vector(const Model& model, const Tokenizer& tokenizer,
                                     const world::World* world,
                                     const std::vector<ContrastPair>& pairs,
                                     const ExtractOptions& options);

}  // namespace masque::vectors
