// Residual-stream activations of token sequences at every persona-vector
// layer (0 = embeddings, L = after block L), pooled per sequence three ways:
// the last prompt token, the mean over prompt tokens and the mean over
// response tokens (docs/persona-vectors.md "Positions"). Sequences go
// through the inference engine in batches, each with its own KV cache:
// one step for the prompts (rows marked prompt), one for the responses
// (rows marked response), with an `observe` intervention per layer.
// Extraction, monitoring and screening all pool activations this way.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "model/intervention.h"
#include "model/model.h"

namespace masque::vectors {

enum class Pooling { kResponse, kPromptLast, kPrompt };
std::string_view pooling_name(Pooling pooling);  // "response", "prompt-last", "prompt"
// InputError naming `flag` and the valid names.
Pooling parse_pooling(std::string_view name, std::string_view flag);

struct TokenSequence {
  std::vector<std::int32_t> tokens;  // prompt then response
  int prompt_length = 0;             // >= 1; positions >= prompt_length are response
};

// Per sequence, [(num_layers + 1) * hidden] each, layer-major.
struct SequenceActivations {
  std::vector<float> prompt_last, prompt_mean, response_mean;  // response_mean empty: no response
  const std::vector<float>& pooled(Pooling pooling) const;
};

struct CaptureOptions {
  int batch = 16;         // sequences per engine step
  bool progress = false;  // a progress bar over sequences
  // Applied before observing (add / project_out entries: a steered model's
  // activations); nullptr = none.
  const Interventions* steer = nullptr;
};

// InputError for an empty sequence, prompt_length outside [1, size], a
// sequence longer than the model's context, or token ids outside the
// vocabulary (from the engine).
std::vector<SequenceActivations> capture_activations(const Model& model,
                                                     std::span<const TokenSequence> sequences,
                                                     const CaptureOptions& options = {});

// The activation of layer L within a pooled vector.
inline std::span<const float> layer_of(const std::vector<float>& pooled, int layer, int hidden) {
  return std::span<const float>(pooled).subspan(static_cast<std::size_t>(layer) * hidden, hidden);
}

}  // namespace masque::vectors
