// Model::Impl: the parameter layout (offsets into the flat buffers) and the
// activation arena planned by reserve(). Shared by model.cpp (layout, init,
// entry points), model_step.cpp (forward, loss, backward) and
// inference_session.cpp (KV-cache decoding).
//
// Parameter order is the Hugging Face state_dict order of LlamaForCausalLM:
// embed_tokens, then per layer q,k,v,o, gate,up,down, input_layernorm,
// post_attention_layernorm, then norm and (untied) lm_head. That order puts
// q|k|v and gate|up next to each other, so each pair is one [out, in] matrix
// to sgemm: one GEMM for the three attention projections, one for the MLP's
// two input projections.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "backend/cpu/rope.h"
#include "model/model.h"

namespace masque {

struct LayerWeights {
  float* wqkv = nullptr;  // [(H + 2 H_kv) * hd, d]
  float* wo = nullptr;    // [d, H * hd]
  float* wgu = nullptr;   // [2 ff, d]
  float* wdown = nullptr; // [d, ff]
  float* ln1 = nullptr;   // [d]
  float* ln2 = nullptr;   // [d]
};

// Saved activations of one layer for the backward pass ([N = B*T rows]).
struct LayerActs {
  float* resid = nullptr;  // [N, d] layer input (after the previous block's hook)
  float* mid = nullptr;    // [N, d] residual after attention
  float* rstd1 = nullptr;  // [N]
  float* rstd2 = nullptr;  // [N]
  float* qkv = nullptr;    // [N, qkv_dim] q|k|v after RoPE
  float* att = nullptr;    // [N, H*hd] attention output (before o_proj)
  float* lse = nullptr;    // [B, H, T] softmax logsumexp
  float* gu = nullptr;     // [N, 2 ff] gate|up; reused for its gradient in backward
};

struct Model::Impl {
  ModelConfig cfg;
  int d = 0, ff = 0, q_dim = 0, kv_dim = 0, qkv_dim = 0;

  std::vector<float> params, grads;
  std::vector<ParamView> views;
  std::unordered_map<std::string, std::size_t> view_index;
  float* embed = nullptr;   // [V, d]
  float* norm_f = nullptr;  // [d]
  float* lm_head = nullptr; // [V, d] (== embed when tied)
  std::vector<LayerWeights> w, g;  // weights and their gradients (same offsets)
  float* d_embed = nullptr;
  float* d_norm_f = nullptr;
  float* d_lm_head = nullptr;

  cpu::RopeTables rope;
  ResidualHook hook;

  // Activation arena, sized by reserve(B, T) for up to cap_rows = B*T rows.
  int cap_rows = 0, cap_T = 0;
  int ce_chunk = 0;  // rows per cross-entropy chunk
  std::vector<float> arena;
  std::vector<LayerActs> acts;
  float* resid_final = nullptr;  // [N, d] output of the last block
  float* rstd_f = nullptr;       // [N]
  float* norm = nullptr;         // [N, d] normalized input of the current op (recomputed in backward)
  float* hbuf = nullptr;         // [N, ff] swiglu output; its gradient in backward
  float* dres = nullptr;         // [N, d] gradient of the residual stream
  float* dnorm = nullptr;        // [N, d]
  float* dqkv = nullptr;         // [N, qkv_dim]
  float* datt = nullptr;         // [N, H*hd]
  float* logits = nullptr;       // [ce_chunk, V]
  float* losses = nullptr;       // [N]
  float* lse_ce = nullptr;       // [N]
  std::vector<float> attn_scratch;
  int attn_threads = 0;  // threads the scratch is sized for (>= num_threads() after reserve)

  explicit Impl(const ModelConfig& config);
  void reserve(int B, int T);
  void ensure_attention_scratch();
  void check_tokens(const std::int32_t* tokens, const std::int32_t* targets, int B, int T) const;

  // Forward through the blocks and the final norm for N = B*T rows; fills the
  // arena (acts, resid_final, rstd_f, norm = final normalized stream).
  void forward_blocks(const std::int32_t* tokens, int B, int T);
  // Chunked LM head + cross-entropy over `norm`. With backward, writes
  // dnorm and accumulates the LM head gradient, scaled by grad_scale / n_valid.
  // Returns the mean loss over non-ignored targets (0 when there are none).
  float head_loss(const std::int32_t* targets, int rows, bool backward, float grad_scale);
  // Backward through the final norm, the blocks and the embedding, from dnorm.
  void backward_blocks(const std::int32_t* tokens, int B, int T);
};

}  // namespace masque
