// Model: the LLaMA-style decoder on a Backend (the CPU by default).
//
//   x = embed[tokens]
//   for each layer l:  x += o_proj(attn(rope(q(rms(x))), rope(k(rms(x))), v(rms(x))))
//                      x += down(silu(gate(rms(x))) * up(rms(x)))
//   logits = lm_head(rms(x))          (lm_head = embed when tied)
//
// All parameters live in one contiguous device buffer and all gradients in
// another (same layout), so optimizers and checkpoints work on flat arrays.
// Parameter names and shapes are Hugging Face's LlamaForCausalLM names
// ([out, in] for linear weights). The decoder block is written once
// (decoder_block.h) and used by training, scoring and the inference engine
// (inference_engine.h). Interventions are passed per call (intervention.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/intervention.h"

namespace masque {

struct ParamView {
  std::string name;                 // e.g. "model.layers.3.self_attn.q_proj.weight"
  std::vector<std::int64_t> shape;  // row-major, HF layout
  std::size_t offset = 0;           // element offset into the flat buffers
  std::size_t numel = 0;
  bool weight_decay = true;  // false for norms (and embeddings by policy)
  float* data = nullptr;     // device pointer into the parameter buffer
  float* grad = nullptr;     // device pointer into the gradient buffer
};

// Optional per-call extras of the training and scoring entry points.
struct CallOptions {
  const Interventions* interventions = nullptr;
  // [B*T] 1 where a position holds a response token; needed by interventions
  // scoped to prompt or response positions (e.g. SFT's Assistant tokens).
  const std::uint8_t* response_mask = nullptr;
  // [B*T] per-position weight of the loss gradient (DPO, posttrain/dpo.h).
  // When set, forward_backward adds grad_scale * loss_weights[i] *
  // d(CE_i)/d(param) for every position i with a target, instead of the
  // gradient of the mean; null keeps the mean (pretraining, SFT) unchanged.
  const float* loss_weights = nullptr;
  // [B*T] host output of forward_backward / forward_loss: each position's
  // cross-entropy -log p(target), 0 where the target is -1.
  float* token_losses = nullptr;
};

class Model {
 public:
  explicit Model(const ModelConfig& config, const Backend& backend = default_backend());  // zeroed
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  const Backend& backend() const;

  // GPT-2/LLaMA-style init from a seed: normal(0, 0.02) for matrices (residual
  // output projections scaled by 1/sqrt(2L)), ones for norms. Deterministic.
  void init_weights(std::uint64_t seed);

  std::vector<ParamView>& params();
  const std::vector<ParamView>& params() const;
  const ParamView& param(const std::string& name) const;  // throws if unknown
  // Device pointers to the flat buffers (host pointers on the CPU backend).
  float* param_data();
  const float* param_data() const;
  float* grad_data();
  std::size_t num_params() const;
  void zero_grad();
  // Host copies of parameters, through the backend (any device).
  void read_param(const ParamView& view, float* host) const;
  void write_param(const ParamView& view, const float* host);
  void read_grad(const ParamView& view, float* host) const;
  void copy_params_from(const Model& other);  // same config; any backends

  // Size training activations for batches up to B x T (T <= max_position_embeddings).
  void reserve(int B, int T);

  // tokens, targets: [B, T] int32 host arrays; target -1 = ignored position.
  // Returns the mean cross-entropy over non-ignored targets, and ADDS
  // grad_scale * d(mean loss)/d(param) into the gradient buffer.
  float forward_backward(const std::int32_t* tokens, const std::int32_t* targets, int B, int T,
                         float grad_scale = 1.0f, const CallOptions& call = {});
  // Mean loss only (validation), no gradient.
  float forward_loss(const std::int32_t* tokens, const std::int32_t* targets, int B, int T,
                     const CallOptions& call = {});
  // logits: [B, T, vocab_size] host array written by the call. const and
  // thread-safe: activations live in the call, not in the model.
  void forward_logits(const std::int32_t* tokens, int B, int T, float* logits,
                      const CallOptions& call = {}) const;

  struct Impl;
  // The layout, for the inference engine and KV caches, which run the same
  // block on the same weights.
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace masque
