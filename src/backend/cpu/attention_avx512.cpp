// Fused causal attention blocks for AVX-512 (see attention_avx512.h).
//
// Products. Every product of a block is C (=|+=) alpha * A B with B's rows
// contiguous along C's columns (vector loads) and A read by broadcasts,
// either column-major (a[p * lda + i]: the transposed Q and dO blocks, and
// the P / dS tiles read as P^T, dS^T) or row-major with the tile's
// compile-time stride (a[i * kFlashKeys + p]: P and dS). So
//   S  = Q K^T   A = Q^T (packed per block), B = K^T (packed per task)
//   dP = dO V^T  A = dO^T (packed per block), B = V^T (packed per task)
//   O += P V,  dQ += dS K         A = P, dS (row-major tile), B = V, K rows
//   dK += dS^T Q,  dV += P^T dO   A = dS, P (column-major tile), B = Q, dO rows
// with every B operand and every accumulated C packed contiguous (per task:
// K^T, V^T tiles, K, V rows, the dK, dV sums; per block: Q, dO rows and
// transposes): the model's rows are kilobytes apart, and a kernel striding
// over them loses its operands to L1 set conflicts (the backward measured
// 1.2x slower reading K, Q, dO in place).
// Micro-tiles are MR rows x NV vectors of 16 floats (6 x 4, 8 x 3, 12 x 2,
// 12 x 1: at most 24 accumulators of the 32 zmm registers). A micro-tile
// reads A's rows up to MR even when fewer are valid (their results are not
// stored), so every A operand has finite padding: packed blocks have
// round_up(block, 24) columns, tiles that many rows plus slack.
#include "backend/cpu/attention_avx512.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/intrinsics.h"
#include "backend/cpu/vec_math.h"

namespace masque::cpu {

namespace {

#define MASQUE_AVX512 __attribute__((target("avx512f,avx512dq")))

using std::size_t;

constexpr int kBc = kFlashKeys;
constexpr int kTileSlack = 16;  // floats after a tile: column-major reads past its last row

// Query-block rows rounded up so every micro-tile height (6, 8, 12) divides it.
int padded_rows(int block) { return (block + 23) / 24 * 24; }

int vectors(int n) { return (n + 15) / 16; }

// Micro-tile height for products whose widest column chunk has nv vectors.
int strip_rows(int nv) { return nv <= 2 ? 12 : nv == 3 ? 8 : 6; }

MASQUE_AVX512 inline __mmask16 tail_mask(int n) {
  return n >= 16  ? static_cast<__mmask16>(0xFFFF)
         : n <= 0 ? static_cast<__mmask16>(0)
                  : static_cast<__mmask16>((1u << n) - 1u);
}

// exp(x) for 16 floats as 2^n * 2^f, n = round(x log2 e), |f| <= 1/2: a
// degree-6 polynomial for 2^f and VSCALEFPS for 2^n, 14 instructions against
// exp256_ps's 20 (at head_dim 32 a score costs only 4 vector FMAs, so the
// exp is a large share of the forward). Max relative error 2.1e-7 (~2 ulp)
// over [-87, 88]; inputs below -87.3 (and -inf) give 0, not denormals.
MASQUE_AVX512 inline __m512 exp512_ps(__m512 x) {
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3365478515625f), _CMP_LT_OQ);
  x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // f = x log2(e) - n, with log2(e)'s float rounding error added back.
  __m512 f = _mm512_fmsub_ps(x, log2e, n);
  f = _mm512_fmadd_ps(x, _mm512_set1_ps(1.925963033500011e-08f), f);
  __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);  // ln(2)^k / k!
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618129107628477e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550410866482158e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.2402265069591007f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.6931471805599453f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~underflow), _mm512_scalef_ps(p, n));
}

// ---- micro-kernels ----------------------------------------------------------

enum class A { kCol, kRowTile };  // A(i, p) = a[p * lda + i] | a[i * kBc + p]

// C[mr, n] (=|+=) alpha * A[mr, k] B[k, n], n <= NV * 16 (the last vector
// masked by `tail`); B row p at b + p * ldb.
template <int MR, int NV, A L>
MASQUE_AVX512 void micro(int k, const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                         int mr, __mmask16 tail, float alpha, bool accumulate) {
  __m512 acc[MR][NV];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  const size_t a_step = L == A::kCol ? static_cast<size_t>(lda) : 1;
  for (int p = 0; p < k; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v + 1 < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
    bv[NV - 1] = _mm512_maskz_loadu_ps(tail, b + 16 * (NV - 1));
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(L == A::kCol ? a[i] : a[i * kBc]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += a_step;
    b += ldb;
  }
  const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    if (i >= mr) break;
    float* row = c + static_cast<size_t>(i) * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v + 1 < NV ? static_cast<__mmask16>(0xFFFF) : tail;
      __m512 x = _mm512_mul_ps(va, acc[i][v]);
      if (accumulate) x = _mm512_add_ps(_mm512_maskz_loadu_ps(m, row + 16 * v), x);
      _mm512_mask_storeu_ps(row + 16 * v, m, x);
    }
  }
}

// One micro-tile of height MR (6, 8 or 12) and width n <= 64 (NV <= 4 fits
// height 6, NV <= 3 height 8, NV <= 2 height 12).
template <A L>
MASQUE_AVX512 void tile(int MR, int k, const float* a, int lda, const float* b, int ldb, float* c,
                        int ldc, int mr, int n, float alpha, bool accumulate) {
  const int nv = vectors(n);
  const __mmask16 tail = tail_mask(n - 16 * (nv - 1));
#define MASQUE_TILE(R, V) micro<R, V, L>(k, a, lda, b, ldb, c, ldc, mr, tail, alpha, accumulate)
  if (MR == 12) {
    if (nv == 1) return MASQUE_TILE(12, 1);
    return MASQUE_TILE(12, 2);
  }
  if (MR == 8) {
    if (nv == 1) return MASQUE_TILE(8, 1);
    if (nv == 2) return MASQUE_TILE(8, 2);
    return MASQUE_TILE(8, 3);
  }
  if (nv == 1) return MASQUE_TILE(6, 1);
  if (nv == 2) return MASQUE_TILE(6, 2);
  if (nv == 3) return MASQUE_TILE(6, 3);
  return MASQUE_TILE(6, 4);
#undef MASQUE_TILE
}

// A row strip [mr rows, head_dim columns] in column chunks of 64.
template <A L>
MASQUE_AVX512 void strip_over_head(int MR, int k, const float* a, int lda, const float* b, int ldb,
                                   float* c, int ldc, int mr, int head_dim, float alpha) {
  for (int c0 = 0; c0 < head_dim; c0 += 64) {
    tile<L>(MR, k, a, lda, b + c0, ldb, c + c0, ldc, mr, std::min(64, head_dim - c0), alpha, true);
  }
}

// Rows this far ahead are prefetched while packing: the model's rows are
// kilobytes apart, where the hardware prefetchers do not follow, and packing
// otherwise waits on memory for every row (measured: the forward 12% slower
// at C2 without it).
constexpr int kPrefetchRows = 8;

inline void prefetch_row(const float* row, int floats) {
  for (int i = 0; i < floats; i += 16)
    _mm_prefetch(reinterpret_cast<const char*>(row + i), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(row + floats - 1), _MM_HINT_T0);
}

// rows x head_dim block (stride ld) -> t [head_dim, ldt]; columns [rows, pad)
// zeroed. Row by row: reads stream, writes touch head_dim lines that stay in L1.
void transpose_block(float* t, int ldt, const float* x, int ld, int rows, int pad, int head_dim) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * ld;
    if (r + kPrefetchRows < rows)
      prefetch_row(xr + static_cast<size_t>(kPrefetchRows) * ld, head_dim);
    for (int d = 0; d < head_dim; ++d) t[static_cast<size_t>(d) * ldt + r] = xr[d];
  }
  for (int d = 0; d < head_dim; ++d) {
    for (int r = rows; r < pad; ++r) t[static_cast<size_t>(d) * ldt + r] = 0.0f;
  }
}

// n rows (stride ld) -> [n, head_dim] contiguous.
MASQUE_AVX512 void pack_rows(float* dst, const float* x, int ld, int n, int head_dim) {
  for (int r = 0; r < n; ++r) {
    const float* xr = x + static_cast<size_t>(r) * ld;
    if (r + kPrefetchRows < n) prefetch_row(xr + static_cast<size_t>(kPrefetchRows) * ld, head_dim);
    float* dr = dst + static_cast<size_t>(r) * head_dim;
    for (int d = 0; d < head_dim; d += 16) {
      const __mmask16 m = tail_mask(head_dim - d);
      _mm512_mask_storeu_ps(dr + d, m, _mm512_maskz_loadu_ps(m, xr + d));
    }
  }
}

// [n, head_dim] contiguous -> n rows (stride ld), prefetching the rows ahead
// (a store to a line not in cache waits for it as a load does).
MASQUE_AVX512 void store_rows(float* x, int ld, const float* src, int n, int head_dim) {
  for (int r = 0; r < n; ++r) {
    float* xr = x + static_cast<size_t>(r) * ld;
    if (r + kPrefetchRows < n) prefetch_row(xr + static_cast<size_t>(kPrefetchRows) * ld, head_dim);
    const float* sr = src + static_cast<size_t>(r) * head_dim;
    for (int d = 0; d < head_dim; d += 16) {
      const __mmask16 m = tail_mask(head_dim - d);
      _mm512_mask_storeu_ps(xr + d, m, _mm512_maskz_loadu_ps(m, sr + d));
    }
  }
}

// n rows (stride ld) -> key tiles [head_dim, kBc], the last one zero-padded.
void pack_tiles(float* t, const float* x, int ld, int n, int head_dim) {
  for (int j0 = 0; j0 < n; j0 += kBc) {
    float* tile = t + static_cast<size_t>(j0) * head_dim;
    transpose_block(tile, kBc, x + static_cast<size_t>(j0) * ld, ld, std::min(kBc, n - j0), kBc,
                    head_dim);
  }
}

int tiles_floats(int n, int head_dim) { return (n + kBc - 1) / kBc * kBc * head_dim; }

// Keys of the tile [j0, j0 + nc) that query row r (absolute position first_pos + r) sees.
inline int visible(int first_pos, int r, int j0, int nc) {
  return std::clamp(first_pos + r + 1 - j0, 0, nc);
}

// S[rows, nc] = alpha * A B over the key tile at j0, where B = X^T (packed
// tiles) and A = the packed block transpose: scores (X = K) or dP (X = V).
// Row strips skip the keys none of their rows sees; entries past a row's
// visible keys are left unwritten.
MASQUE_AVX512 void tile_scores(float* s, const float* at, int lda, const float* xt, int rows,
                               int first_pos, int j0, int nc, int head_dim, float alpha) {
  const float* b = xt + static_cast<size_t>(j0) * head_dim;  // the tile [head_dim, kBc]
  const int MR = strip_rows(vectors(nc));
  for (int r0 = 0; r0 < rows; r0 += MR) {
    const int mr = std::min(MR, rows - r0);
    const int n = visible(first_pos, r0 + mr - 1, j0, nc);
    if (n <= 0) continue;
    tile<A::kCol>(MR, head_dim, at + r0, lda, b, kBc, s + static_cast<size_t>(r0) * kBc, kBc, mr, n,
                  alpha, false);
  }
}

// C[rows, head_dim] += T[rows, nc] X[j0.., head_dim] with T a row-major tile
// (P or dS): each strip stops at the last key its rows see.
MASQUE_AVX512 void tile_times_rows(float* c, int ldc, const float* t, const float* x, int ldx,
                                   int rows, int first_pos, int j0, int nc, int head_dim) {
  const int MR = strip_rows(std::min(4, vectors(head_dim)));
  for (int r0 = 0; r0 < rows; r0 += MR) {
    const int mr = std::min(MR, rows - r0);
    const int kk = visible(first_pos, r0 + mr - 1, j0, nc);
    if (kk <= 0) continue;
    strip_over_head<A::kRowTile>(MR, kk, t + static_cast<size_t>(r0) * kBc, kBc,
                                 x + static_cast<size_t>(j0) * ldx, ldx,
                                 c + static_cast<size_t>(r0) * ldc, ldc, mr, head_dim, 1.0f);
  }
}

// C[j0 + i, head_dim] += sum_r T[r, i] X[r, head_dim] for the tile's keys i
// (dK from dS and Q, dV from P and dO): each key strip starts at the first
// query row that sees its first key.
MASQUE_AVX512 void tile_transposed_times_rows(float* c, int ldc, const float* t, const float* x,
                                              int ldx, int rows, int first_pos, int j0, int nc,
                                              int head_dim) {
  const int MR = strip_rows(std::min(4, vectors(head_dim)));
  for (int i0 = 0; i0 < nc; i0 += MR) {
    const int mk = std::min(MR, nc - i0);
    const int p0 = std::clamp(j0 + i0 - first_pos, 0, rows);
    if (p0 >= rows) break;
    strip_over_head<A::kCol>(MR, rows - p0, t + static_cast<size_t>(p0) * kBc + i0, kBc,
                             x + static_cast<size_t>(p0) * ldx, ldx,
                             c + static_cast<size_t>(j0 + i0) * ldc, ldc, mk, head_dim, 1.0f);
  }
}

}  // namespace

std::size_t flash_kv_floats(int n, int head_dim, bool backward) {
  const size_t tiles = tiles_floats(n, head_dim), rows = static_cast<size_t>(n) * head_dim;
  return backward ? 2 * tiles + rows : tiles + rows;
}

FlashKv flash_kv_layout(float* base, int n, int head_dim, bool backward) {
  FlashKv kv;
  kv.kt = base;
  float* next = kv.kt + tiles_floats(n, head_dim);
  if (backward) {
    kv.vt = next;
    kv.k = kv.vt + tiles_floats(n, head_dim);
  } else {
    kv.v = next;
  }
  return kv;
}

void flash_pack_kv(const FlashKv& kv, const float* k, int ldk, const float* v, int ldv, int n,
                   int head_dim, bool backward) {
  pack_tiles(kv.kt, k, ldk, n, head_dim);
  if (backward) {
    pack_tiles(kv.vt, v, ldv, n, head_dim);
    pack_rows(kv.k, k, ldk, n, head_dim);
  } else {
    pack_rows(kv.v, v, ldv, n, head_dim);
  }
}

void flash_store_rows(float* x, int ld, const float* src, int n, int head_dim) {
  store_rows(x, ld, src, n, head_dim);
}

std::size_t flash_forward_work_floats(int block, int head_dim) {
  const size_t rp = padded_rows(block);
  // q^T, the score tile, the output accumulator, running max, sum and correction.
  return rp * head_dim + (rp * kBc + kTileSlack) + rp * head_dim + 3 * rp;
}

std::size_t flash_backward_work_floats(int block, int head_dim) {
  const size_t rp = padded_rows(block);
  // q^T, dout^T, q and dout rows, the P and dS tiles, the dq accumulator, delta.
  return 4 * rp * head_dim + 2 * (rp * kBc + kTileSlack) + rp * head_dim + rp;
}

MASQUE_AVX512 void flash_forward_block(float* out, int ldo, float* lse, const float* q, int ldq,
                                       const FlashKv& kv, int rows, int first_pos, int nk,
                                       int head_dim, float scale, float* work) {
  const int rp = padded_rows(rows);
  float* qt = work;
  float* s = qt + static_cast<size_t>(rp) * head_dim;
  float* o = s + static_cast<size_t>(rp) * kBc + kTileSlack;
  float* m = o + static_cast<size_t>(rp) * head_dim;
  float* l = m + rp;
  float* corr = l + rp;
  transpose_block(qt, rp, q, ldq, rows, rp, head_dim);
  // Padding rows of the tile are read (not used) by the P V micro-tiles.
  std::memset(s + static_cast<size_t>(rows) * kBc, 0,
              sizeof(float) * ((rp - rows) * static_cast<size_t>(kBc) + kTileSlack));
  std::memset(o, 0, sizeof(float) * static_cast<size_t>(rows) * head_dim);
  for (int r = 0; r < rows; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
  }
  for (int j0 = 0; j0 < nk; j0 += kBc) {
    const int nc = std::min(kBc, nk - j0);
    tile_scores(s, qt, rp, kv.kt, rows, first_pos, j0, nc, head_dim, scale);
    // Online softmax: P = exp(S - m_new); l and the output so far rescaled by
    // corr = exp(m_old - m_new) (0 on a row's first tile, 1 when its max
    // holds). The tile's row maxima first, then the corrections 16 rows at a
    // time: one exp per row would be a serial latency chain per row.
    for (int r = 0; r < rows; ++r) {
      const float* row = s + static_cast<size_t>(r) * kBc;
      const int valid = visible(first_pos, r, j0, nc);
      __m512 vmax = _mm512_set1_ps(-INFINITY);
      for (int t = 0; t < kBc / 16; ++t)
        vmax = _mm512_max_ps(vmax,
                             _mm512_mask_loadu_ps(vmax, tail_mask(valid - 16 * t), row + 16 * t));
      corr[r] = _mm512_reduce_max_ps(vmax);  // the tile's max, -inf when the row sees none of it
    }
    for (int r0 = 0; r0 < rows; r0 += 16) {
      const __mmask16 mr = tail_mask(rows - r0);
      const __m512 m_old = _mm512_maskz_loadu_ps(mr, m + r0);
      const __m512 m_new = _mm512_max_ps(m_old, _mm512_maskz_loadu_ps(mr, corr + r0));
      // A row's first key is in tile 0, so m_new is finite and m_old - m_new is -inf (-> 0) or <=
      // 0.
      const __m512 c = exp512_ps(_mm512_sub_ps(m_old, m_new));
      _mm512_mask_storeu_ps(m + r0, mr, m_new);
      _mm512_mask_storeu_ps(corr + r0, mr, c);
      _mm512_mask_storeu_ps(l + r0, mr, _mm512_mul_ps(c, _mm512_maskz_loadu_ps(mr, l + r0)));
    }
    for (int r = 0; r < rows; ++r) {
      float* row = s + static_cast<size_t>(r) * kBc;
      const int valid = visible(first_pos, r, j0, nc);
      if (corr[r] != 1.0f) {
        float* orow = o + static_cast<size_t>(r) * head_dim;
        const __m512 vc = _mm512_set1_ps(corr[r]);
        for (int d = 0; d < head_dim; d += 16) {
          const __mmask16 md = tail_mask(head_dim - d);
          _mm512_mask_storeu_ps(orow + d, md,
                                _mm512_mul_ps(vc, _mm512_maskz_loadu_ps(md, orow + d)));
        }
      }
      const __m512 shift = _mm512_set1_ps(m[r]);
      __m512 sum = _mm512_setzero_ps();
      for (int t = 0; t < kBc / 16; ++t) {
        const __mmask16 mk = tail_mask(valid - 16 * t);
        const __m512 e = _mm512_maskz_mov_ps(
            mk, exp512_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, row + 16 * t), shift)));
        _mm512_storeu_ps(row + 16 * t, e);
        sum = _mm512_add_ps(sum, e);
      }
      l[r] += _mm512_reduce_add_ps(sum);
    }
    tile_times_rows(o, head_dim, s, kv.v, head_dim, rows, first_pos, j0, nc, head_dim);
  }
  for (int r = 0; r < rows; ++r) {
    const __m512 inv = _mm512_set1_ps(1.0f / l[r]);
    float* orow = o + static_cast<size_t>(r) * head_dim;
    for (int d = 0; d < head_dim; d += 16) {
      const __mmask16 md = tail_mask(head_dim - d);
      _mm512_mask_storeu_ps(orow + d, md, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(md, orow + d)));
    }
    if (lse != nullptr) lse[r] = m[r] + std::log(l[r]);
  }
  store_rows(out, ldo, o, rows, head_dim);
}

MASQUE_AVX512 void flash_backward_block(float* dq, int lddq, float* dk_acc, float* dv_acc,
                                        const float* dout, int ldo, const float* out,
                                        const float* lse, const float* q, int ldq,
                                        const FlashKv& kv, int rows, int first_pos, int nk,
                                        int head_dim, float scale, float* work) {
  const int rp = padded_rows(rows);
  const size_t tile_floats = static_cast<size_t>(rp) * kBc + kTileSlack;
  const size_t block_floats = static_cast<size_t>(rp) * head_dim;
  float* qt = work;
  float* dot = qt + block_floats;
  float* qc = dot + block_floats;
  float* doc = qc + block_floats;
  float* p = doc + block_floats;
  float* ds = p + tile_floats;
  float* dqa = ds + tile_floats;
  float* delta = dqa + block_floats;
  pack_rows(qc, q, ldq, rows, head_dim);
  pack_rows(doc, dout, ldo, rows, head_dim);
  transpose_block(qt, rp, qc, head_dim, rows, rp, head_dim);
  transpose_block(dot, rp, doc, head_dim, rows, rp, head_dim);
  const size_t pad_floats = tile_floats - static_cast<size_t>(rows) * kBc;
  std::memset(p + static_cast<size_t>(rows) * kBc, 0, sizeof(float) * pad_floats);
  std::memset(ds + static_cast<size_t>(rows) * kBc, 0, sizeof(float) * pad_floats);
  std::memset(dqa, 0, sizeof(float) * static_cast<size_t>(rows) * head_dim);
  for (int r = 0; r < rows; ++r) {
    delta[r] =
        row_dot(dout + static_cast<size_t>(r) * ldo, out + static_cast<size_t>(r) * ldo, head_dim);
  }
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int j0 = 0; j0 < nk; j0 += kBc) {
    const int nc = std::min(kBc, nk - j0);
    tile_scores(p, qt, rp, kv.kt, rows, first_pos, j0, nc, head_dim, scale);
    tile_scores(ds, dot, rp, kv.vt, rows, first_pos, j0, nc, head_dim, 1.0f);
    // P = exp(S - lse) (recomputed), dS = P (dP - delta) scale; zero past the visible keys.
    for (int r = 0; r < rows; ++r) {
      float* prow = p + static_cast<size_t>(r) * kBc;
      float* dsrow = ds + static_cast<size_t>(r) * kBc;
      const int valid = visible(first_pos, r, j0, nc);
      const __m512 vl = _mm512_set1_ps(lse[r]);
      const __m512 vd = _mm512_set1_ps(delta[r]);
      for (int t = 0; t < kBc / 16; ++t) {
        const __mmask16 mk = tail_mask(valid - 16 * t);
        const __m512 pe = _mm512_maskz_mov_ps(
            mk, exp512_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, prow + 16 * t), vl)));
        const __m512 dp = _mm512_maskz_loadu_ps(mk, dsrow + 16 * t);
        _mm512_storeu_ps(prow + 16 * t, pe);
        _mm512_storeu_ps(dsrow + 16 * t,
                         _mm512_mul_ps(_mm512_mul_ps(pe, _mm512_sub_ps(dp, vd)), vscale));
      }
    }
    tile_times_rows(dqa, head_dim, ds, kv.k, head_dim, rows, first_pos, j0, nc, head_dim);
    tile_transposed_times_rows(dk_acc, head_dim, ds, qc, head_dim, rows, first_pos, j0, nc,
                               head_dim);
    tile_transposed_times_rows(dv_acc, head_dim, p, doc, head_dim, rows, first_pos, j0, nc,
                               head_dim);
  }
  store_rows(dq, lddq, dqa, rows, head_dim);
}

}  // namespace masque::cpu
