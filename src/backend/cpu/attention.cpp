// Causal GQA attention forward/backward (see attention.h for the design).
// Parallel over (batch, head) in the forward and over (batch, kv head) in the
// backward, so each thread owns the dK/dV rows it accumulates: no atomics,
// bit-identical results whatever the scheduling. On AVX-512 CPUs the query
// blocks go through the fused kernels of attention_avx512.h; elsewhere
// through per-block sgemm calls and a softmax over the block's scores.
#include "backend/cpu/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/attention_avx512.h"
#include "backend/cpu/decode_attention.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/vec_math.h"
#include "core/error.h"

namespace masque::cpu {

namespace {

// Probabilities of one query block: S = scale * q_blk k^T already in `s`
// ([rows, nk], stride nk); valid keys of row r are [0, first_pos + r].
// With `lse_in` the row's logsumexp is known (backward); else it is computed
// and written to lse_out (may be null).
void block_softmax(float* s, int rows, int nk, int first_pos, const float* lse_in, float* lse_out) {
  for (int r = 0; r < rows; ++r) {
    float* row = s + static_cast<std::size_t>(r) * nk;
    const int valid = std::min(nk, first_pos + r + 1);
    if (lse_in != nullptr) {
      row_exp_sum(row, valid, 1.0f, lse_in[r]);
    } else {
      const float m = row_max(row, valid);
      const float sum = row_exp_sum(row, valid, 1.0f, m);
      row_scale(row, valid, 1.0f / sum);
      if (lse_out != nullptr) lse_out[r] = m + std::log(sum);
    }
    std::memset(row + valid, 0, sizeof(float) * (nk - valid));
  }
}

// Query blocks of at most this many rows skip sgemm (see small_block_attention).
constexpr int kSmallQueryRows = 4;

// The same math as the sgemm path for a few query rows (decoding): scores
// by dot products, block_softmax, then out = sum_j p_j v_j in key order (a
// fixed order: deterministic). Head sizes 32/64/128 take the register-held
// kernels of decode_attention.h; others the generic loops.
void small_block_attention(float* out, int ldo, const float* q, int ldq, const float* k, int ldk,
                           const float* v, int ldv, int rows, int nk, int head_dim, int first_pos,
                           float scale, float* s, float* lse_rows) {
  for (int r = 0; r < rows; ++r) {
    const float* qr = q + static_cast<std::size_t>(r) * ldq;
    float* sr = s + static_cast<std::size_t>(r) * nk;
    float* orow = out + static_cast<std::size_t>(r) * ldo;
    float* lse = lse_rows == nullptr ? nullptr : lse_rows + r;
    const int valid = std::min(nk, first_pos + r + 1);
    if (decode_attention_row(orow, qr, k, ldk, v, ldv, valid, head_dim, scale, sr, lse)) continue;
    for (int j = 0; j < valid; ++j) {
      sr[j] = scale * row_dot(qr, k + static_cast<std::size_t>(j) * ldk, head_dim);
    }
    block_softmax(sr, 1, nk, valid - 1, nullptr, lse);
    std::memset(orow, 0, sizeof(float) * head_dim);
    for (int j = 0; j < valid; ++j) {
      const float p = sr[j];
      const float* vj = v + static_cast<std::size_t>(j) * ldv;
      for (int e = 0; e < head_dim; ++e) orow[e] += p * vj[e];
    }
  }
}

// Per-thread scratch floats. sgemm path: the block's scores and dS
// ([block, keys] each). Fused path: the packed keys and values, the block's
// work, the small-block scores (forward) or the dK, dV sums (backward).
std::size_t forward_thread_floats(int max_k, int head_dim, int block, bool fused) {
  const std::size_t keys = static_cast<std::size_t>(max_k);
  if (!fused) return 2 * static_cast<std::size_t>(block) * keys;
  return flash_kv_floats(max_k, head_dim, false) + flash_forward_work_floats(block, head_dim) +
         kSmallQueryRows * keys;
}

std::size_t backward_thread_floats(int Tk, int head_dim, int block, bool fused) {
  if (!fused) return 2 * static_cast<std::size_t>(block) * Tk;
  return flash_kv_floats(Tk, head_dim, true) + flash_backward_work_floats(block, head_dim) +
         2 * static_cast<std::size_t>(Tk) * head_dim;
}

// Whether the fused AVX-512 kernels run. kAuto: MASQUE_ATTENTION=sgemm|fused
// when set (same-build comparisons, bench/attention.cpp), else the CPU's best.
bool fused_path(CpuIsa isa) {
  if (isa != CpuIsa::kAuto) return resolve_isa(isa) == CpuIsa::kAvx512;
  static const bool fused = [] {
    const char* env = std::getenv("MASQUE_ATTENTION");
    if (env == nullptr || *env == '\0') return cpu_has_avx512();
    const std::string name = env;
    if (name == "sgemm") return false;
    if (name == "fused") return resolve_isa(CpuIsa::kAvx512) == CpuIsa::kAvx512;
    throw InputError(cat("MASQUE_ATTENTION='", name,
                         "' is not an attention kernel: use sgemm or fused (or unset it)"));
  }();
  return fused;
}

}  // namespace

std::size_t attention_scratch_floats(const AttentionDims& d, int threads, CpuIsa isa) {
  const bool fused = fused_path(isa);
  return static_cast<std::size_t>(threads) *
         std::max(forward_thread_floats(d.Tk, d.head_dim, d.block, fused),
                  backward_thread_floats(d.Tk, d.head_dim, d.block, fused));
}

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionDims& d, float* scratch, int threads, CpuIsa isa) {
  std::vector<AttentionSeq> seqs(static_cast<std::size_t>(d.B));
  for (int b = 0; b < d.B; ++b) {
    seqs[b] = {b * d.Tq,
               d.Tq,
               d.q_offset,
               d.Tk,
               k + static_cast<std::size_t>(b) * d.Tk * d.ldk,
               v + static_cast<std::size_t>(b) * d.Tk * d.ldv};
  }
  AttentionHeads heads{d.n_heads, d.n_kv_heads, d.head_dim, d.ldq, d.ldk, d.ldv, d.ldo};
  attention_forward_seqs(out, lse, q, seqs.data(), d.B, heads, d.block, scratch, threads, isa);
}

std::size_t attention_seqs_scratch_floats(const AttentionSeq* seqs, int n_seqs,
                                          const AttentionHeads& heads, int block, int threads,
                                          CpuIsa isa) {
  int max_k = 1;
  for (int i = 0; i < n_seqs; ++i) max_k = std::max(max_k, seqs[i].n_k);
  return static_cast<std::size_t>(threads) *
         forward_thread_floats(max_k, heads.head_dim, block, fused_path(isa));
}

void attention_forward_seqs(float* out, float* lse, const float* q, const AttentionSeq* seqs,
                            int n_seqs, const AttentionHeads& d, int block, float* scratch,
                            int threads, CpuIsa isa) {
  const bool fused = fused_path(isa);
  const int group = d.n_heads / d.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.head_dim));
  const int tasks = n_seqs * d.n_heads;
  int max_k = 1;
  long work = 0;
  for (int i = 0; i < n_seqs; ++i) {
    max_k = std::max(max_k, seqs[i].n_k);
    work += static_cast<long>(d.n_heads) * seqs[i].n_q * seqs[i].n_k * d.head_dim;
  }
  const std::size_t per_thread = forward_thread_floats(max_k, d.head_dim, block, fused);
#pragma omp parallel for schedule(static) num_threads(threads) if (work >= 4 * kParallelMinWork)
  for (int task = 0; task < tasks; ++task) {
    const AttentionSeq& sq = seqs[task / d.n_heads];
    const int h = task % d.n_heads;
    const int kvh = h / group;
    float* s = scratch + static_cast<std::size_t>(omp_get_thread_num()) * per_thread;
    // Fused path: the visible keys and values (packed on the first large
    // block: decoding's one-row blocks do not need them), the block's work.
    const int n_vis = std::min(sq.n_k, sq.q_pos + sq.n_q);
    const FlashKv kv = fused ? flash_kv_layout(s, n_vis, d.head_dim, false) : FlashKv{};
    float* fwork = fused ? s + flash_kv_floats(max_k, d.head_dim, false) : nullptr;
    float* small_s = fused ? fwork + flash_forward_work_floats(block, d.head_dim) : s;
    bool packed = false;
    const float* kb = sq.k + kvh * d.head_dim;
    const float* vb = sq.v + kvh * d.head_dim;
    for (int i0 = 0; i0 < sq.n_q; i0 += block) {
      const int rows = std::min(block, sq.n_q - i0);
      const int nk = std::min(sq.n_k, sq.q_pos + i0 + rows);
      const float* qb = q + (static_cast<std::size_t>(sq.q_row) + i0) * d.ldq + h * d.head_dim;
      float* ob = out + (static_cast<std::size_t>(sq.q_row) + i0) * d.ldo + h * d.head_dim;
      // lse of sequence sq: [n_heads, n_q] at lse + q_row * n_heads.
      float* lse_rows = lse == nullptr ? nullptr
                                       : lse + static_cast<std::size_t>(sq.q_row) * d.n_heads +
                                             static_cast<std::size_t>(h) * sq.n_q + i0;
      if (rows <= kSmallQueryRows) {
        // Decoding: a few query rows. Dot products and axpys beat two sgemm
        // calls, whose fixed cost dominates at this size.
        small_block_attention(ob, d.ldo, qb, d.ldq, kb, d.ldk, vb, d.ldv, rows, nk, d.head_dim,
                              sq.q_pos + i0, scale, small_s, lse_rows);
        continue;
      }
      if (fused) {
        if (!packed) {
          flash_pack_kv(kv, kb, d.ldk, vb, d.ldv, n_vis, d.head_dim, false);
          packed = true;
        }
        flash_forward_block(ob, d.ldo, lse_rows, qb, d.ldq, kv, rows, sq.q_pos + i0, nk, d.head_dim,
                            scale, fwork);
        continue;
      }
      sgemm(false, true, rows, nk, d.head_dim, scale, qb, d.ldq, kb, d.ldk, 0.0f, s, nk);
      block_softmax(s, rows, nk, sq.q_pos + i0, nullptr, lse_rows);
      sgemm(false, false, rows, d.head_dim, nk, 1.0f, s, nk, vb, d.ldv, 0.0f, ob, d.ldo);
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v,
                        const AttentionDims& d, float* scratch, int threads, CpuIsa isa) {
  const bool fused = fused_path(isa);
  const int group = d.n_heads / d.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.head_dim));
  const int tasks = d.B * d.n_kv_heads;
  const long work = static_cast<long>(d.B) * d.n_heads * d.Tq * d.Tk * d.head_dim;
  const std::size_t per_thread = backward_thread_floats(d.Tk, d.head_dim, d.block, fused);
#pragma omp parallel for schedule(static) num_threads(threads) if (work >= 4 * kParallelMinWork)
  for (int task = 0; task < tasks; ++task) {
    const int b = task / d.n_kv_heads;
    const int kvh = task % d.n_kv_heads;
    float* p = scratch + static_cast<std::size_t>(omp_get_thread_num()) * per_thread;
    const std::size_t kv_row0 = static_cast<std::size_t>(b) * d.Tk;
    const float* kb = k + kv_row0 * d.ldk + kvh * d.head_dim;
    const float* vb = v + kv_row0 * d.ldv + kvh * d.head_dim;
    float* dkb = dk + kv_row0 * d.ldk + kvh * d.head_dim;
    float* dvb = dv + kv_row0 * d.ldv + kvh * d.head_dim;
    float* ds = fused ? nullptr : p + static_cast<std::size_t>(d.block) * d.Tk;
    // Fused path: the visible keys and values packed, the block's work, dK
    // and dV summed contiguous (written to dk, dv at the end).
    const int n_vis = std::min(d.Tk, d.q_offset + d.Tq);
    const std::size_t kv_floats = static_cast<std::size_t>(n_vis) * d.head_dim;
    const FlashKv kv = fused ? flash_kv_layout(p, n_vis, d.head_dim, true) : FlashKv{};
    float* fwork = fused ? p + flash_kv_floats(d.Tk, d.head_dim, true) : nullptr;
    float* dk_acc = fused ? fwork + flash_backward_work_floats(d.block, d.head_dim) : nullptr;
    float* dv_acc = fused ? dk_acc + kv_floats : nullptr;
    if (fused) {
      flash_pack_kv(kv, kb, d.ldk, vb, d.ldv, n_vis, d.head_dim, true);
      std::memset(dk_acc, 0, sizeof(float) * 2 * kv_floats);
    }
    // Keys no query sees (n_vis..Tk: none in training) get zero gradients.
    for (int j = fused ? n_vis : 0; j < d.Tk; ++j) {
      std::memset(dkb + static_cast<std::size_t>(j) * d.ldk, 0, sizeof(float) * d.head_dim);
      std::memset(dvb + static_cast<std::size_t>(j) * d.ldv, 0, sizeof(float) * d.head_dim);
    }
    for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
      for (int i0 = 0; i0 < d.Tq; i0 += d.block) {
        const int rows = std::min(d.block, d.Tq - i0);
        const int nk = std::min(d.Tk, d.q_offset + i0 + rows);
        const std::size_t q_row0 = static_cast<std::size_t>(b) * d.Tq + i0;
        const float* qb = q + q_row0 * d.ldq + h * d.head_dim;
        float* dqb = dq + q_row0 * d.ldq + h * d.head_dim;
        const float* ob = out + q_row0 * d.ldo + h * d.head_dim;
        const float* dob = dout + q_row0 * d.ldo + h * d.head_dim;
        const float* lse_rows = lse + (static_cast<std::size_t>(b) * d.n_heads + h) * d.Tq + i0;
        if (fused) {
          flash_backward_block(dqb, d.ldq, dk_acc, dv_acc, dob, d.ldo, ob, lse_rows, qb, d.ldq, kv,
                               rows, d.q_offset + i0, nk, d.head_dim, scale, fwork);
          continue;
        }
        // P = softmax(scale q k^T), recomputed from the saved logsumexp.
        sgemm(false, true, rows, nk, d.head_dim, scale, qb, d.ldq, kb, d.ldk, 0.0f, p, nk);
        block_softmax(p, rows, nk, d.q_offset + i0, lse_rows, nullptr);
        // dP = dO v^T; dS = P * (dP - rowsum(dO * O)), times scale for dq/dk.
        sgemm(false, true, rows, nk, d.head_dim, 1.0f, dob, d.ldo, vb, d.ldv, 0.0f, ds, nk);
        for (int r = 0; r < rows; ++r) {
          const float delta = row_dot(dob + static_cast<std::size_t>(r) * d.ldo,
                                      ob + static_cast<std::size_t>(r) * d.ldo, d.head_dim);
          float* dsr = ds + static_cast<std::size_t>(r) * nk;
          const float* pr = p + static_cast<std::size_t>(r) * nk;
          for (int j = 0; j < nk; ++j) dsr[j] = pr[j] * (dsr[j] - delta) * scale;
        }
        sgemm(false, false, rows, d.head_dim, nk, 1.0f, ds, nk, kb, d.ldk, 0.0f, dqb, d.ldq);
        sgemm(true, false, nk, d.head_dim, rows, 1.0f, ds, nk, qb, d.ldq, 1.0f, dkb, d.ldk);
        sgemm(true, false, nk, d.head_dim, rows, 1.0f, p, nk, dob, d.ldo, 1.0f, dvb, d.ldv);
      }
    }
    if (fused) {
      flash_store_rows(dkb, d.ldk, dk_acc, n_vis, d.head_dim);
      flash_store_rows(dvb, d.ldv, dv_acc, n_vis, d.head_dim);
    }
  }
}

}  // namespace masque::cpu
