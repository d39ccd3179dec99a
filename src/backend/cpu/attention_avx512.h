// Fused causal attention for CPUs with AVX-512 (flash-style): one query
// block at a time, tiled over kFlashKeys keys, with the score tile kept in
// L1 and multiplied by register-blocked micro-kernels that read their
// operands in place (no per-call packing as a general GEMM needs). The
// forward uses an online softmax (running max and sum per row, output
// rescaled when the max grows) and keeps only the logsumexp per row; the
// backward recomputes the probabilities from it. Causal tiles skip, at
// micro-tile granularity, the keys no row of the tile can see.
//
// Every function here is single-threaded and sums in a fixed order
// (attention.cpp splits whole (sequence, head) tasks between threads), so
// results do not depend on the thread count. Callers check cpu_has_avx512().
#pragma once
#include <cstddef>

namespace masque::cpu {

constexpr int kFlashKeys = 64;  // keys per tile (the score tile is [block rows, kFlashKeys])

// Keys and values of one (sequence, KV head), repacked once per task so the
// micro-kernels stream contiguous memory (rows of the model's fused q|k|v
// layout are kilobytes apart and alias in L1): K^T and V^T in tiles of
// kFlashKeys keys ([head_dim, kFlashKeys] each), K and V rows contiguous
// ([n, head_dim]). The forward reads kt and v, the backward kt, vt and k.
struct FlashKv {
  float* kt = nullptr;
  float* vt = nullptr;
  float* k = nullptr;
  float* v = nullptr;
};
// Floats of the packed kv, and its arrays laid out from base (the forward's
// kt and v, or the backward's kt, vt and k; the others stay null).
std::size_t flash_kv_floats(int n, int head_dim, bool backward);
FlashKv flash_kv_layout(float* base, int n, int head_dim, bool backward);
// Packs keys and values [0, n) (row strides ldk, ldv): kt and v for the
// forward, kt, vt and k for the backward.
void flash_pack_kv(const FlashKv& kv, const float* k, int ldk, const float* v, int ldv, int n,
                   int head_dim, bool backward);

// [n, head_dim] contiguous -> n rows of stride ld (dK, dV sums to the model's rows).
void flash_store_rows(float* x, int ld, const float* src, int n, int head_dim);

// Work floats of flash_forward_block / flash_backward_block for query
// blocks of up to `block` rows.
std::size_t flash_forward_work_floats(int block, int head_dim);
std::size_t flash_backward_work_floats(int block, int head_dim);

// One query block of `rows` rows at absolute positions first_pos.. over keys
// [0, nk) (nk = the keys the last row sees) of the packed kv. out rows
// (stride ldo) overwritten; lse[r] (may be null) the row's logsumexp of
// scale * q.k.
void flash_forward_block(float* out, int ldo, float* lse, const float* q, int ldq,
                         const FlashKv& kv, int rows, int first_pos, int nk, int head_dim,
                         float scale, float* work);

// Gradients of one query block (same geometry as the forward), given out
// and lse as the forward saved them: dq rows (stride lddq) overwritten;
// dk_acc, dv_acc ([keys, head_dim], contiguous) accumulated over keys [0, nk).
void flash_backward_block(float* dq, int lddq, float* dk_acc, float* dv_acc, const float* dout,
                          int ldo, const float* out, const float* lse, const float* q, int ldq,
                          const FlashKv& kv, int rows, int first_pos, int nk, int head_dim,
                          float scale, float* work);

}  // namespace masque::cpu
