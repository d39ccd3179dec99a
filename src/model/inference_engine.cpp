// InferenceEngine (see inference_engine.h): lays out the step's rows
// sequence after sequence, binds each layer's new keys and values into the
// sequences' caches, and runs the shared decoder block.
#include "model/inference_engine.h"

#include <algorithm>

#include "core/error.h"
#include "core/threads.h"
#include "model/model_impl.h"

namespace masque {
namespace {

// Keys and values in caller-owned caches: new rows are written at the end
// of each sequence's cache, and attention reads the whole cache.
class CacheKv final : public KvBinding {
 public:
  CacheKv(const Backend& be, const BlockDims& dims, std::span<const SequenceStep> seqs,
          std::span<const int> row0)
      : be_(be), dims_(dims), steps_(seqs), row0_(row0), seqs_(seqs.size()) {}

  std::span<const AttentionSeq> bind(int layer, const float* qkv) override {
    const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(dims_.kv_dim);
    for (std::size_t s = 0; s < steps_.size(); ++s) {
      const KvCache& cache = *steps_[s].cache;
      const int past = cache.length();
      const int n = static_cast<int>(steps_[s].tokens.size());
      float* keys = cache.keys(layer);
      float* values = cache.values(layer);
      for (int i = 0; i < n; ++i) {
        const float* row = qkv + static_cast<std::size_t>(row0_[s] + i) * dims_.qkv_dim;
        be_.copy(keys + static_cast<std::size_t>(past + i) * dims_.kv_dim, row + dims_.q_dim,
                 row_bytes);
        be_.copy(values + static_cast<std::size_t>(past + i) * dims_.kv_dim,
                 row + dims_.q_dim + dims_.kv_dim, row_bytes);
      }
      seqs_[s] = {row0_[s], n, past, past + n, keys, values};
    }
    return seqs_;
  }
  int key_stride() const override { return dims_.kv_dim; }

 private:
  const Backend& be_;
  const BlockDims& dims_;
  std::span<const SequenceStep> steps_;
  std::span<const int> row0_;
  std::vector<AttentionSeq> seqs_;
};

}  // namespace

struct InferenceEngine::State {
  explicit State(const Backend& be) : scratch(be) {}
  InferenceScratch scratch;
  std::vector<float> logits;
  std::vector<std::int32_t> tokens, positions, last_rows;
  std::vector<int> row0;
  CallRows call;
};

InferenceEngine::InferenceEngine(const Model& model, EngineOptions options)
    : model_(model), options_(options), state_(std::make_unique<State>(model.backend())) {
  if (options_.threads < 0)
    throw InputError(cat("engine threads must be >= 0, got ", options_.threads));
}

InferenceEngine::~InferenceEngine() = default;

std::span<const float> InferenceEngine::append(KvCache& cache, std::span<const std::int32_t> tokens,
                                               const Interventions* interventions, bool response) {
  const SequenceStep one{&cache, tokens, response, -1};
  return step({&one, 1}, interventions);
}

std::span<const float> InferenceEngine::step(std::span<const SequenceStep> seqs,
                                             const Interventions* interventions) {
  const Model::Impl& m = model_.impl();
  const int vocab = m.cfg.vocab_size;
  if (seqs.empty()) throw InputError("an engine step needs at least one sequence");
  State& st = *state_;
  st.tokens.clear();
  st.positions.clear();
  st.last_rows.clear();
  st.row0.clear();
  st.call = CallRows{};
  // Validate everything before any cache changes.
  for (std::size_t s = 0; s < seqs.size(); ++s) {
    const SequenceStep& q = seqs[s];
    if (q.cache == nullptr) throw InputError(cat("sequence ", s, " of the step has no KV cache"));
    if (&q.cache->model() != &model_)
      throw InputError(cat("sequence ", s, "'s KV cache belongs to another model"));
    if (q.tokens.empty()) throw InputError(cat("sequence ", s, " of the step has no new tokens"));
    for (std::size_t t = 0; t < s; ++t) {
      if (seqs[t].cache == q.cache)
        throw InputError(cat("sequences ", t, " and ", s, " of the step share one KV cache"));
    }
    if (q.cache->length() + static_cast<int>(q.tokens.size()) > q.cache->max_length()) {
      throw InputError(cat("sequence ", s, ": ", q.cache->length(), " cached + ", q.tokens.size(),
                           " new tokens exceed the model's context of ", q.cache->max_length(),
                           " (start a new conversation or shorten the prompt)"));
    }
    for (std::size_t i = 0; i < q.tokens.size(); ++i) {
      if (q.tokens[i] < 0 || q.tokens[i] >= vocab) {
        throw InputError(cat("token id ", q.tokens[i], " (sequence ", s, ", new token ", i,
                             ") is outside the model's vocabulary [0, ", vocab,
                             "): tokenizer and model do not match"));
      }
    }
  }
  for (std::size_t s = 0; s < seqs.size(); ++s) {
    const SequenceStep& q = seqs[s];
    const int past = q.cache->length();
    const int n = static_cast<int>(q.tokens.size());
    q.cache->reserve(past + n);
    st.row0.push_back(static_cast<int>(st.tokens.size()));
    for (int i = 0; i < n; ++i) {
      st.tokens.push_back(q.tokens[i]);
      st.positions.push_back(past + i);
      st.call.seq.push_back(q.batch_row >= 0 ? q.batch_row : static_cast<std::int32_t>(s));
      st.call.pos.push_back(past + i);
      st.call.response.push_back(q.response ? 1 : 0);
    }
    st.last_rows.push_back(static_cast<std::int32_t>(st.tokens.size()) - 1);
  }
  const ThreadScope threads(options_.threads);
  const int rows = static_cast<int>(st.tokens.size());
  const InterventionPass iv(interventions, m.be, st.call, m.d);
  CacheKv kv(m.be, m.layout.dims, seqs, st.row0);
  m.forward_rows(st.scratch, st.tokens.data(), st.positions.data(), rows, kv, iv);
  st.logits.resize(seqs.size() * static_cast<std::size_t>(vocab));
  m.logits_of_rows(st.scratch, st.last_rows, st.logits.data());
  for (std::size_t s = 0; s < seqs.size(); ++s) {
    seqs[s].cache->commit(seqs[s].tokens.data(), static_cast<int>(seqs[s].tokens.size()));
  }
  tokens_forwarded_ += rows;
  return st.logits;
}

}  // namespace masque
