// AVX-512 packing for the 12 x 32 GEMM kernel (see gemm_pack_avx512.h).
#include "backend/cpu/intrinsics.h"
// (intrinsics.h first: it silences GCC's false warnings in <immintrin.h>.)
#include <algorithm>
#include <cstddef>

#include "backend/cpu/gemm_pack_avx512.h"

namespace masque::cpu {

namespace {

using std::size_t;

#define MASQUE_AVX512 __attribute__((target("avx512f,avx512dq")))

// First n lanes of 16.
MASQUE_AVX512 inline __mmask16 lanes(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// In place: r[c] lane i becomes the old r[i] lane c. Three rounds of
// shuffles (pairs within 128-bit lanes, quads within lanes, then lanes
// across registers): 64 shuffles per 256 floats.
MASQUE_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // r[4g + c], 128-bit lane L: rows 4g..4g+3 at column 4L + c.
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // 0x88 takes 128-bit lanes 0 and 2 of each operand, 0xDD lanes 1 and 3.
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
    t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xDD);
  }
}

// Up to 16 rows (row i at src[i], rows >= n_rows zero) x `kc` columns from
// column 0, transposed: column p's 16 values (masked to `store_mask`) go to
// dst + p * dst_stride.
MASQUE_AVX512 void transpose_rows(float* dst, int dst_stride, __mmask16 store_mask,
                                  const float* const* src, int n_rows, int kc) {
  for (int p = 0; p < kc; p += 16) {
    const int q = std::min(16, kc - p);
    const __mmask16 load = lanes(q);
    __m512 v[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
      v[i] = i < n_rows ? _mm512_maskz_loadu_ps(load, src[i] + p) : _mm512_setzero_ps();
    transpose16(v);
    float* d = dst + static_cast<size_t>(p) * dst_stride;
    if (q == 16) {
#pragma GCC unroll 16
      for (int c = 0; c < 16; ++c)
        _mm512_mask_storeu_ps(d + static_cast<size_t>(c) * dst_stride, store_mask, v[c]);
    } else {
      for (int c = 0; c < q; ++c)
        _mm512_mask_storeu_ps(d + static_cast<size_t>(c) * dst_stride, store_mask, v[c]);
    }
  }
}

}  // namespace

MASQUE_AVX512 void pack_a_12x(float* dst, const float* a, int lda, bool trans_a, int i0, int rows,
                              int p0, int kc) {
  constexpr int MR = kPackMr512;
  if (trans_a) {
    // A stored [k, m]: each k row holds 12 contiguous floats of every
    // sliver; walk the rows in order (sequential reads), slivers inside.
    for (int p = 0; p < kc; ++p) {
      const float* src = a + static_cast<size_t>(p0 + p) * lda + i0;
      for (int s = 0; s < rows; s += MR) {
        const __m512 v = _mm512_maskz_loadu_ps(lanes(std::min(MR, rows - s)), src + s);
        _mm512_mask_storeu_ps(dst + static_cast<size_t>(s) * kc + static_cast<size_t>(p) * MR,
                              lanes(MR), v);
      }
    }
    return;
  }
  // A stored [m, k]: 12 rows side by side, transposed 16 k at a time.
  for (int s = 0; s < rows; s += MR) {
    const int r = std::min(MR, rows - s);
    const float* src[MR];
    for (int i = 0; i < r; ++i) src[i] = a + static_cast<size_t>(i0 + s + i) * lda + p0;
    transpose_rows(dst + static_cast<size_t>(s) * kc, MR, lanes(MR), src, r, kc);
  }
}

MASQUE_AVX512 void pack_b_x32(float* dst, const float* b, int ldb, bool trans_b, int j0, int cols,
                              int p0, int kc) {
  constexpr int NR = kPackNr512;
  if (!trans_b) {
    // B stored [k, n]: 32 contiguous floats per k row and sliver.
    for (int p = 0; p < kc; ++p) {
      const float* src = b + static_cast<size_t>(p0 + p) * ldb + j0;
      for (int s = 0; s < cols; s += NR) {
        const int w = std::min(NR, cols - s);
        float* d = dst + static_cast<size_t>(s) * kc + static_cast<size_t>(p) * NR;
        _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(lanes(w), src + s));
        _mm512_storeu_ps(d + 16, _mm512_maskz_loadu_ps(lanes(std::max(w - 16, 0)), src + s + 16));
      }
    }
    return;
  }
  // B stored [n, k] (a weight [out, in]): each sliver's 32 rows transposed
  // as two halves of 16.
  for (int s = 0; s < cols; s += NR) {
    const int w = std::min(NR, cols - s);
    for (int h = 0; h < NR; h += 16) {
      const float* src[16];
      const int n_rows = std::clamp(w - h, 0, 16);
      for (int i = 0; i < n_rows; ++i) src[i] = b + static_cast<size_t>(j0 + s + h + i) * ldb + p0;
      transpose_rows(dst + static_cast<size_t>(s) * kc + h, NR, lanes(16), src, n_rows, kc);
    }
  }
}

}  // namespace masque::cpu
