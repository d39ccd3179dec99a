// The decoder block, written once for training, prefill and batched
// decoding:
//
//   mid = resid + o_proj(attn(rope(q), rope(k), v))       q|k|v = wqkv(rms(resid))
//   out = mid   + down(silu(gate) * up)                   gate|up = wgu(rms(mid))
//
// What differs between the three is only where keys and values live, which
// a KvBinding decides: training and whole-sequence scoring attend within the
// call's own rows; the inference engine stores new keys and values in
// caller-owned KV caches and attends over each cache. Interventions apply at
// attn_out, mlp_out and resid_post (see intervention.h).
#pragma once
#include <cstdint>
#include <span>

#include "backend/backend.h"
#include "backend/q8_matrix.h"
#include "model/intervention_pass.h"

namespace masque {

struct BlockDims {
  int d = 0, ff = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int q_dim = 0, kv_dim = 0, qkv_dim = 0;
  float eps = 1e-5f;
};

struct BlockWeights {  // device pointers; q|k|v and gate|up fused ([out, in] each)
  float* wqkv = nullptr;
  float* wo = nullptr;
  float* wgu = nullptr;
  float* wdown = nullptr;
  float* ln1 = nullptr;
  float* ln2 = nullptr;
  // Optional biases (null when the config has none): q|k|v [qkv_dim] (Qwen2,
  // Llama attention_bias), o [d], gate|up [2 ff] and down [d] (mlp_bias).
  float* bqkv = nullptr;
  float* bo = nullptr;
  float* bgu = nullptr;
  float* bdown = nullptr;
  // Optional Q8_0 copies of the four weights (inference from Q8_0 files,
  // model_q8.h); linear_forward reads them instead where that is faster.
  const Q8Matrix* q8_wqkv = nullptr;
  const Q8Matrix* q8_wo = nullptr;
  const Q8Matrix* q8_wgu = nullptr;
  const Q8Matrix* q8_wdown = nullptr;
};

// Activations of one block for `rows` rows. Training keeps one per layer for
// the backward; inference reuses one (rstd and lse may then be null).
struct BlockActs {
  float* resid = nullptr;  // [rows, d] block input
  float* mid = nullptr;    // [rows, d] residual after attention
  float* rstd1 = nullptr;  // [rows]
  float* rstd2 = nullptr;  // [rows]
  float* qkv = nullptr;    // [rows, qkv_dim] q|k|v after RoPE
  float* att = nullptr;    // [rows, q_dim] attention output before o_proj
  float* lse = nullptr;    // attention logsumexp (see Backend::attention_forward)
  float* gu = nullptr;     // [rows, 2 ff] gate|up (its gradient in backward)
};

// Shared scratch of the block for `rows` rows.
struct BlockScratch {
  float* norm = nullptr;  // [rows, d]
  float* h = nullptr;     // [rows, ff]
  float* site = nullptr;  // [rows, d] a sublayer's output while an intervention acts on it
  // backward only
  float* dnorm = nullptr;  // [rows, d]
  float* dqkv = nullptr;   // [rows, qkv_dim]
  float* datt = nullptr;   // [rows, q_dim]
};

// Where a layer's keys and values go and what attention reads.
class KvBinding {
 public:
  virtual ~KvBinding() = default;
  // Called after RoPE with the layer's q|k|v rows; stores new keys/values
  // if it keeps them elsewhere, and returns the sequences to attend over.
  virtual std::span<const AttentionSeq> bind(int layer, const float* qkv) = 0;
  virtual int key_stride() const = 0;  // row stride of the k and v it returns
};

// Keys and values inside the call's own q|k|v rows: B sequences of T rows at
// positions 0..T-1 (training, scoring whole sequences).
class SelfAttentionKv final : public KvBinding {
 public:
  SelfAttentionKv(int B, int T, const BlockDims& dims);
  std::span<const AttentionSeq> bind(int layer, const float* qkv) override;
  int key_stride() const override { return qkv_dim_; }

 private:
  int B_, T_, q_dim_, kv_dim_, qkv_dim_;
  std::vector<AttentionSeq> seqs_;
};

struct BlockContext {
  const Backend& backend;
  const BlockDims& dims;
  int rows;
  const std::int32_t* positions;  // device [rows]
  const float* rope_cos;          // device [max_pos, head_dim / 2]
  const float* rope_sin;
  const InterventionPass& interventions;
  Workspace& workspace;
  // Device [>= rows] of 1.0f, needed only when the block has biases: a bias
  // is a rank-1 GEMM (ones [rows, 1] @ bias [1, out]) forward, and its
  // gradient ones^T @ dout backward, so biases need no op of their own.
  const float* ones = nullptr;
};

// backend.matmul_forward, except that with a Q8_0 copy of the weight
// (`quant`, may be null) on a backend that addresses host memory and at
// decoding's few rows (<= cpu::kQ8MaxRows) it reads the copy through the
// CPU's Q8_0 kernels: ~3.6x fewer bytes, the same result up to float32
// summation order. Prefill's many rows keep the float32 GEMM.
void linear_forward(const Backend& be, float* out, const float* inp, const float* weight,
                    const Q8Matrix* quant, int rows, int in, int out_dim, bool accumulate);

// out may alias acts.resid (inference); in training it is the next layer's resid.
void block_forward(const BlockContext& ctx, int layer, const BlockWeights& w, const BlockActs& acts,
                   const BlockScratch& scratch, KvBinding& kv, float* out);

// Training backward on a uniform batch. dres: d(out) on entry, d(resid) on
// exit (accumulated through the residual). Gradients accumulate into g.
// acts.gu is overwritten with its gradient.
void block_backward(const BlockContext& ctx, int layer, const BlockWeights& w,
                    const BlockWeights& g, const BlockActs& acts, const BlockScratch& scratch,
                    const AttentionBatch& batch, float* dres);

}  // namespace masque
