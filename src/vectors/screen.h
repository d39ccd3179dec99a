// Data screening with a persona vector (docs/persona-vectors.md, E9): for
// each training example (prompt x, reply y_data), the projection
// difference ΔP = (a(x, y_data) − a(x, y_model)) · v̂, where a is the
// layer-L activation averaged over the reply's tokens and y_model is the
// model's own greedy reply to the same prompt. A set's ΔP is the mean over
// its examples (with a bootstrap interval): positive = training on the set
// pushes the model along the trait direction.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"
#include "persona/persona_eval.h"
#include "persona/persona_vector.h"
#include "posttrain/chat_format.h"
#include "tokenizer/tokenizer.h"

namespace masque::vectors {

struct ScreenOptions {
  int layer = -1;  // -1 = the vector's best layer
  int max_tokens = 64;
  int batch = 16;
  std::uint64_t seed = 1;
  int bootstrap = 1000;
  bool progress = false;
};

struct ScreenExample {
  int index = 0;  // line in the data (0-based, non-empty lines)
  double data_projection = 0, model_projection = 0, delta = 0;
  std::string model_reply;
};

struct ScreenResult {
  int layer = 0;
  std::vector<ScreenExample> examples;  // in data order
  persona::Interval mean_delta;
  Json summary() const;
};

// Every conversation must end with an Assistant reply (the training target);
// InputError naming the example otherwise, and for empty data. A reply with
// no tokens (the model ends at once) has no response mean and counts with
// projection 0.
ScreenResult screen_data(const Model& model, const Tokenizer& tokenizer,
                         const persona::PersonaVector& vector,
                         const std::vector<Conversation>& data, const ScreenOptions& options);

}  // namespace masque::vectors
