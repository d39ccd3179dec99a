// Tiny model fixtures shared by the model tests: a config small enough for
// float64 references and finite differences, weights far from linear, and
// random token ids.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "model/model.h"

namespace masque {

inline ModelConfig tiny_config(bool tied, int kv_heads) {
  ModelConfig c;
  c.vocab_size = 29;
  c.hidden_size = 24;
  c.intermediate_size = 20;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = kv_heads;
  c.head_dim = 6;
  c.max_position_embeddings = 16;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 100.0f;  // fast rotation so positions matter at T < 16
  c.tie_word_embeddings = tied;
  return c;
}

// Weights large enough that attention and the MLP are far from linear.
inline void randomize(Model& model, std::uint64_t seed) {
  Rng rng(seed);
  for (auto& view : model.params()) {
    const bool norm = view.shape.size() == 1;
    for (std::size_t i = 0; i < view.numel; ++i)
      view.data[i] = norm ? 1.0f + 0.2f * static_cast<float>(rng.normal())
                          : 0.25f * static_cast<float>(rng.normal());
  }
}

inline std::vector<std::int32_t> random_tokens(int n, int vocab, Rng& rng) {
  std::vector<std::int32_t> t(n);
  for (auto& x : t) x = static_cast<std::int32_t>(rng.below(vocab));
  return t;
}

inline std::vector<double> params_double(Model& model) {
  return {model.param_data(), model.param_data() + model.num_params()};
}

}  // namespace masque
