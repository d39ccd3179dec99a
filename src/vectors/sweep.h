// Dose-response of steering (docs/persona-vectors.md, E7): for each layer x
// coefficient, the model answers held-out world questions (no instruction)
// with c * v added at that layer, and the world's TraitScorer reads the
// trait. Coherence is measured twice: the mean per-token log-likelihood of
// each reply (as text, its closing <|end|> included) under the unsteered
// model, and the share of replies the scorer can read at all.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"
#include "persona/persona_eval.h"
#include "persona/persona_vector.h"
#include "tokenizer/tokenizer.h"
#include "world/world.h"

namespace masque::vectors {

struct SweepOptions {
  std::vector<int> layers;  // empty = the vector's best layer
  std::vector<float> coefs = {-4, -2, -1, 0, 1, 2, 4};
  int prompts = 32;  // held-out questions (eval templates)
  int samples = 1;   // replies per question and cell
  int max_tokens = 48;
  float temperature = 1.0f;
  std::uint64_t seed = 1;
  int batch = 16;
  int bootstrap = 500;
  PositionScope positions = PositionScope::kAll;
  bool progress = false;
};

struct SweepCell {
  int layer = 0;
  float coef = 0;
  persona::Interval expression;  // mean trait score over readable replies (bootstrap CI)
  double readable = 0;           // share of replies the scorer could read
  double log_likelihood = 0;     // mean per-token log p(reply | prompt) under the unsteered model
  int replies = 0;
  std::string example;  // the first reply
};

struct SweepResult {
  std::string trait;
  std::vector<SweepCell> cells;  // layers outer, coefficients inner
  Json to_json() const;
  std::string markdown() const;  // the table
  std::string svg() const;       // expression vs coefficient, one line per layer
};

// InputError for an unknown trait, a layer the vector lacks, no coefficients.
SweepResult sweep_steering(Model& model, const Tokenizer& tokenizer, const world::World& world,
                           const persona::PersonaVector& vector, const SweepOptions& options);

}  // namespace masque::vectors
