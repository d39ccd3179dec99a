// Activation capture through the inference engine (see activations.h).
#include "vectors/activations.h"

#include <algorithm>
#include <memory>

#include "core/error.h"
#include "core/progress.h"
#include "model/inference_engine.h"
#include "model/kv_cache.h"
#include "persona/persona_vector.h"

namespace masque::vectors {

std::string_view pooling_name(Pooling pooling) {
  switch (pooling) {
    case Pooling::kResponse:
      return "response";
    case Pooling::kPromptLast:
      return "prompt-last";
    case Pooling::kPrompt:
      return "prompt";
  }
  return "?";
}

Pooling parse_pooling(std::string_view name, std::string_view flag) {
  for (Pooling p : {Pooling::kResponse, Pooling::kPromptLast, Pooling::kPrompt}) {
    if (pooling_name(p) == name) return p;
  }
  throw InputError(
      cat(flag, ": unknown positions '", name, "' (valid: response, prompt-last, prompt)"));
}

const std::vector<float>& SequenceActivations::pooled(Pooling pooling) const {
  switch (pooling) {
    case Pooling::kResponse:
      return response_mean;
    case Pooling::kPromptLast:
      return prompt_last;
    case Pooling::kPrompt:
      return prompt_mean;
  }
  return prompt_last;
}

std::vector<SequenceActivations> capture_activations(const Model& model,
                                                     std::span<const TokenSequence> sequences,
                                                     const CaptureOptions& options) {
  const ModelConfig& cfg = model.config();
  const int layers = cfg.num_hidden_layers + 1;
  const int d = cfg.hidden_size;
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    const TokenSequence& s = sequences[i];
    if (s.prompt_length < 1 || s.prompt_length > static_cast<int>(s.tokens.size())) {
      throw InputError(cat("sequence ", i, ": prompt length ", s.prompt_length, " is outside [1, ",
                           s.tokens.size(), "]"));
    }
    if (static_cast<int>(s.tokens.size()) > cfg.max_position_embeddings) {
      throw InputError(cat("sequence ", i, " has ", s.tokens.size(),
                           " tokens, more than the model's context of ",
                           cfg.max_position_embeddings));
    }
  }
  // One observation per layer, all positions, rows kept: the caller's steps
  // say which rows are prompt and which are response.
  std::vector<std::unique_ptr<Observation>> obs;
  Interventions observe;
  if (options.steer != nullptr) {
    for (const Intervention& iv : options.steer->list()) {
      if (iv.kind != InterventionKind::kObserve) observe.add(iv, cfg.num_hidden_layers, d);
    }
  }
  for (int layer = 0; layer < layers; ++layer) {
    obs.push_back(std::make_unique<Observation>());
    observe.add(persona::observe_intervention(layer, cfg.num_hidden_layers, obs.back().get()),
                cfg.num_hidden_layers, d);
  }
  std::vector<SequenceActivations> out(sequences.size());
  InferenceEngine engine(model);
  const int batch = std::max(1, options.batch);
  std::unique_ptr<ProgressBar> bar;
  if (options.progress) {
    bar = std::make_unique<ProgressBar>("activations", sequences.size(), "seq");
  }
  // Accumulates the observed rows of one step into per-sequence means.
  auto pool = [&](std::size_t first, bool response) {
    for (int layer = 0; layer < layers; ++layer) {
      const Observation& o = *obs[layer];
      const std::size_t rows = o.pos.size();
      for (std::size_t r = 0; r < rows; ++r) {
        SequenceActivations& a = out[first + static_cast<std::size_t>(o.seq[r])];
        const TokenSequence& s = sequences[first + static_cast<std::size_t>(o.seq[r])];
        const float* row = o.values.data() + r * d;
        float* dst = (response ? a.response_mean : a.prompt_mean).data() +
                     static_cast<std::size_t>(layer) * d;
        for (int k = 0; k < d; ++k) dst[k] += row[k];
        if (!response && o.pos[r] == s.prompt_length - 1) {
          std::copy(row, row + d, a.prompt_last.data() + static_cast<std::size_t>(layer) * d);
        }
      }
    }
    for (auto& o : obs) o->clear();
  };
  for (std::size_t first = 0; first < sequences.size(); first += batch) {
    const std::size_t n = std::min<std::size_t>(batch, sequences.size() - first);
    std::vector<KvCache> caches;
    caches.reserve(n);
    std::vector<SequenceStep> steps;
    for (std::size_t i = 0; i < n; ++i) {
      const TokenSequence& s = sequences[first + i];
      SequenceActivations& a = out[first + i];
      const std::size_t size = static_cast<std::size_t>(layers) * d;
      a.prompt_last.assign(size, 0.0f);
      a.prompt_mean.assign(size, 0.0f);
      if (static_cast<int>(s.tokens.size()) > s.prompt_length) a.response_mean.assign(size, 0.0f);
      caches.emplace_back(model);
      caches.back().reserve(static_cast<int>(s.tokens.size()));
      SequenceStep step;
      step.cache = &caches.back();
      step.tokens = std::span<const std::int32_t>(s.tokens).first(s.prompt_length);
      step.batch_row = static_cast<int>(i);
      steps.push_back(step);
    }
    engine.step(steps, &observe);
    pool(first, false);
    steps.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const TokenSequence& s = sequences[first + i];
      if (static_cast<int>(s.tokens.size()) == s.prompt_length) continue;
      SequenceStep step;
      step.cache = &caches[i];
      step.tokens = std::span<const std::int32_t>(s.tokens).subspan(s.prompt_length);
      step.response = true;
      step.batch_row = static_cast<int>(i);
      steps.push_back(step);
    }
    if (!steps.empty()) {
      engine.step(steps, &observe);
      pool(first, true);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const TokenSequence& s = sequences[first + i];
      SequenceActivations& a = out[first + i];
      const float inv_prompt = 1.0f / static_cast<float>(s.prompt_length);
      for (float& x : a.prompt_mean) x *= inv_prompt;
      const int response = static_cast<int>(s.tokens.size()) - s.prompt_length;
      if (response > 0) {
        const float inv = 1.0f / static_cast<float>(response);
        for (float& x : a.response_mean) x *= inv;
      }
    }
    if (bar) bar->set(first + n);
  }
  if (bar) bar->finish();
  return out;
}

}  // namespace masque::vectors
