// InferenceEngine: token-level inference on a Model with caller-owned KV
// caches. One step() appends new tokens to any number of sequences at once
// (prefill, decoding, or both mixed): their rows go through each weight as
// one matrix product, and attention reads each sequence's own cache. The
// engine owns only scratch and its thread setting, and the forward is const
// on the model, so two engines (say, two server workers) can run at once on
// one model. Interventions are passed per call.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/intervention.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace masque {

struct EngineOptions {
  int threads = 0;  // threads for this engine's calls; 0 = the process-wide count
};

// One sequence's part of a step.
struct SequenceStep {
  KvCache* cache = nullptr;
  std::span<const std::int32_t> tokens;  // at least one new token
  bool response = false;  // these are response tokens (for interventions scoped to prompt/response)
  int batch_row = -1;     // the batch row interventions see; -1 = the index in the step
};

class InferenceEngine {
 public:
  explicit InferenceEngine(const Model& model, EngineOptions options = {});
  ~InferenceEngine();
  InferenceEngine(const InferenceEngine&) = delete;
  InferenceEngine& operator=(const InferenceEngine&) = delete;

  // Appends each sequence's tokens to its cache and returns the logits after
  // each sequence's last new token, [seqs.size(), vocab_size], valid until
  // the next call. Interventions see the call's rows: batch_row = the
  // step's batch_row (default its index in `seqs`), positions absolute
  // within each sequence. InputError (and no
  // cache changed) for an empty token list, an id outside the vocabulary, a
  // cache of another model, one cache twice, or a sequence past the context.
  std::span<const float> step(std::span<const SequenceStep> seqs,
                              const Interventions* interventions = nullptr);
  // One sequence.
  std::span<const float> append(KvCache& cache, std::span<const std::int32_t> tokens,
                                const Interventions* interventions = nullptr,
                                bool response = false);

  const Model& model() const { return model_; }
  int threads() const { return options_.threads; }
  // Tokens forwarded by this engine so far (a prompt token fed twice counts twice).
  std::int64_t tokens_forwarded() const { return tokens_forwarded_; }

 private:
  const Model& model_;
  EngineOptions options_;
  struct State;
  std::unique_ptr<State> state_;
  std::int64_t tokens_forwarded_ = 0;
};

}  // namespace masque
