// Causal grouped-query self-attention with a fused softmax. Queries are
// processed in blocks of kAttentionBlock rows; each block multiplies only the
// keys it can see (causal), and the forward keeps only the logsumexp per row:
// the backward recomputes the probabilities (cheaper than storing B*H*T*T
// floats). Two implementations, chosen by CpuIsa (kAuto: the CPU's best):
// AVX-512 runs the fused flash-style kernels of attention_avx512.h (key
// tiles, online softmax, no per-block GEMM calls); AVX2 runs per-block sgemm
// calls over all the block's keys and a softmax of the materialized scores.
// Both are deterministic at any thread count; their bits differ. The
// environment's MASQUE_ATTENTION=sgemm|fused overrides kAuto (comparisons).
//
// q, k, v, out are token rows with a row stride (the model keeps q|k|v fused
// in one row); head h of a row starts at h*head_dim. Query head h reads KV
// head h / (n_heads / n_kv_heads).
#pragma once
#include <cstddef>

#include "backend/backend.h"
#include "backend/cpu/cpu_features.h"

namespace masque::cpu {

constexpr int kAttentionBlock =
    64;  // default query rows per block (bench/cpu_train_step --profile)

struct AttentionDims {
  int B = 1;
  int Tq = 0;        // query rows per sequence
  int Tk = 0;        // key rows per sequence (Tq in training; cache length in decoding)
  int q_offset = 0;  // absolute position of query row 0 (query i sees keys j <= q_offset + i)
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int ldq = 0, ldk = 0, ldv = 0, ldo = 0;  // row strides in floats
  int block = kAttentionBlock;             // query rows per block
};

// Scratch floats the kernels need for `threads` threads.
std::size_t attention_scratch_floats(const AttentionDims& dims, int threads,
                                     CpuIsa isa = CpuIsa::kAuto);

// q [B*Tq rows], k, v [B*Tk rows] -> out [B*Tq rows] (n_heads*head_dim used per
// row), lse [B, n_heads, Tq] (may be null). scratch: attention_scratch_floats.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionDims& dims, float* scratch, int threads,
                       CpuIsa isa = CpuIsa::kAuto);

// Ragged sequences (prefill and batched decoding against KV caches, see
// AttentionSeq in backend/backend.h); parallel over (sequence, head). lse of
// sequence s is [n_heads, n_q] at lse + s.q_row * n_heads (may be null).
std::size_t attention_seqs_scratch_floats(const AttentionSeq* seqs, int n_seqs,
                                          const AttentionHeads& heads, int block, int threads,
                                          CpuIsa isa = CpuIsa::kAuto);
void attention_forward_seqs(float* out, float* lse, const float* q, const AttentionSeq* seqs,
                            int n_seqs, const AttentionHeads& heads, int block, float* scratch,
                            int threads, CpuIsa isa = CpuIsa::kAuto);

// Gradients: dq (stride ldq, overwritten), dk, dv (strides ldk, ldv,
// overwritten), from dout (stride ldo) and the forward's out and lse.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v,
                        const AttentionDims& dims, float* scratch, int threads,
                        CpuIsa isa = CpuIsa::kAuto);

}  // namespace masque::cpu
