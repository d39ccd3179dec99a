// Model: the LLaMA-style decoder on the CPU backend, float32.
//
//   x = embed[tokens]
//   for each layer l:  x += o_proj(attn(rope(q(rms(x))), rope(k(rms(x))), v(rms(x))))
//                      x += down(silu(gate(rms(x))) * up(rms(x)))
//   logits = lm_head(rms(x))          (lm_head = embed when tied)
//
// All parameters live in one contiguous float buffer and all gradients in
// another (same layout), so optimizers and checkpoints work on flat arrays.
// Activations are planned from (B, T) up front by reserve(); the step itself
// does not allocate. Parameter names and shapes are Hugging Face's
// LlamaForCausalLM names ([out, in] for linear weights).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"

namespace masque {

struct ParamView {
  std::string name;                 // e.g. "model.layers.3.self_attn.q_proj.weight"
  std::vector<std::int64_t> shape;  // row-major, HF layout
  std::size_t offset = 0;           // element offset into the flat buffers
  std::size_t numel = 0;
  bool weight_decay = true;         // false for norms (and embeddings by policy)
  float* data = nullptr;            // points into params buffer
  float* grad = nullptr;            // points into grads buffer
};

// Called with the residual stream after each block (layer = 0..L-1), rows =
// number of token positions in `resid` (B*T in training, new tokens in
// decoding), dim = hidden_size. The hook may read it (monitoring, persona
// vectors) or add to it (steering); in training the backward pass treats the
// change as an additive constant (gradient passes through unchanged).
using ResidualHook = std::function<void(int layer, float* resid, int rows, int dim)>;

class Model {
 public:
  explicit Model(const ModelConfig& config);  // parameters and grads zeroed
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;

  // GPT-2/LLaMA-style init from a seed: normal(0, 0.02) for matrices (residual
  // output projections scaled by 1/sqrt(2L)), ones for norms. Deterministic.
  void init_weights(std::uint64_t seed);

  std::vector<ParamView>& params();
  const std::vector<ParamView>& params() const;
  const ParamView& param(const std::string& name) const;  // throws if unknown
  float* param_data();
  float* grad_data();
  std::size_t num_params() const;
  void zero_grad();

  // Size activation memory for batches up to B x T (T <= max_position_embeddings).
  void reserve(int B, int T);

  // tokens, targets: [B, T] int32; target -1 = ignored position (loss masking).
  // Returns the mean cross-entropy over non-ignored targets, and ADDS
  // grad_scale * d(mean loss)/d(param) into the gradient buffer.
  float forward_backward(const std::int32_t* tokens, const std::int32_t* targets, int B, int T,
                         float grad_scale = 1.0f);
  // Mean loss only (validation), no gradient.
  float forward_loss(const std::int32_t* tokens, const std::int32_t* targets, int B, int T);
  // logits: [B, T, vocab_size] written by the call.
  void forward_logits(const std::int32_t* tokens, int B, int T, float* logits);

  void set_residual_hook(ResidualHook hook);  // empty function clears it
  const ResidualHook& residual_hook() const;

  struct Impl;
  // The layout and activation plan, for InferenceSession, which runs the same
  // kernels on the same weights.
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Incremental decoding with a KV cache for one sequence. Logits equal those of
// Model::forward_logits on the whole prefix (tested).
class InferenceSession {
 public:
  InferenceSession(const Model& model, int max_seq_len);
  ~InferenceSession();
  InferenceSession(const InferenceSession&) = delete;
  InferenceSession& operator=(const InferenceSession&) = delete;

  void reset();  // empty the cache
  // Append tokens (prompt prefill or one sampled token); returns the logits
  // [vocab_size] after the last appended token. Throws InputError when the
  // cache would exceed max_seq_len.
  std::span<const float> append(std::span<const std::int32_t> tokens);
  int position() const;  // tokens in the cache
  int max_seq_len() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace masque
