// Monitoring with a persona vector (docs/persona-vectors.md): for each chat
// example, the projection (a . v)/|v| of the layer-L activation at the last
// prompt token and averaged over the response, next to the world's
// TraitScorer reading of the response; Pearson r between them with a
// bootstrap interval. An example whose conversation ends with an Assistant
// message is read as it is; one ending with a user message is answered by
// the model first (greedy by default), so the same command measures how
// well the prompt-last projection predicts what the model will express.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"
#include "persona/persona_eval.h"
#include "persona/persona_vector.h"
#include "posttrain/chat_format.h"
#include "tokenizer/tokenizer.h"
#include "world/world.h"

namespace masque::vectors {

struct MonitorOptions {
  int layer = -1;  // -1 = the vector's best layer
  int max_tokens = 64;
  float temperature = 0.0f;  // for examples the model answers
  std::uint64_t seed = 1;
  int batch = 16;
  int bootstrap = 1000;
  const Interventions* steer = nullptr;  // applied while answering and reading (e.g. a sweep)
  bool progress = false;
};

struct MonitorExample {
  double prompt_last = 0;          // projection at the last prompt token
  std::optional<double> response;  // mean projection over response tokens (none: empty reply)
  std::optional<double> score;     // TraitScorer reading of the response
  std::string response_text;
  bool generated = false;
};

struct MonitorResult {
  int layer = 0;
  std::string trait;
  std::vector<MonitorExample> examples;
  persona::Interval r_prompt_last, r_response;  // vs the score, over scored examples
  int scored = 0;
  Json to_json(bool with_examples) const;
};

// Conversations: each non-empty, ending with a user or an Assistant message.
// world may be null (no scores, no correlations). InputError for an unknown
// trait (when a world is given), a layer the vector lacks, empty data.
MonitorResult monitor_projections(const Model& model, const Tokenizer& tokenizer,
                                  const world::World* world, const persona::PersonaVector& vector,
                                  const std::vector<Conversation>& data,
                                  const MonitorOptions& options);

// Chat JSONL ({"messages": [...]} per line). InputError naming the line.
std::vector<Conversation> read_conversations(const std::string& path);

}  // namespace masque::vectors
