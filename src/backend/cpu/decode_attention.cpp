// One-row attention kernels (see decode_attention.h), AVX2 and AVX-512.
//
// Three passes over the row's keys: scores (q . k_j, several keys per
// horizontal reduction), softmax on the scores in L1, then the values.
// - A head's key and value rows sit ldk floats apart in the cache (all heads
//   share a row), so each is its own 128-512 bytes and the hardware
//   prefetcher, which stops at 4 KiB pages, loses the stream after a few
//   keys; decoding then waits on L3 for every key. The score pass therefore
//   prefetches the key rows kPrefetchKeys ahead and the value rows of the
//   keys it scores, so the value pass finds them in L1.
// - The value pass keeps several partial outputs over interleaved keys so
//   that consecutive FMAs do not wait on each other (4-cycle latency); they
//   are summed in a fixed order at the end.
#include "backend/cpu/decode_attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "backend/cpu/intrinsics.h"
#include "backend/cpu/vec_math.h"

namespace masque::cpu {
namespace {

constexpr int kPrefetchKeys = 16;

// Prefetches the cache lines of a row of `bytes` bytes into L1, each once
// (a redundant prefetch still takes a load slot).
inline void prefetch_row(const float* row, int bytes) {
  const auto first = reinterpret_cast<std::uintptr_t>(row) & ~std::uintptr_t{63};
  const auto end = reinterpret_cast<std::uintptr_t>(row) + static_cast<std::uintptr_t>(bytes);
  for (std::uintptr_t p = first; p < end; p += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
}

// Softmax of s[0, valid) in place, unnormalised: returns the sum of the
// exponentials; lse gets the logsumexp.
inline float softmax_unnormalised(float* s, int valid, float* lse) {
  const float m = row_max(s, static_cast<std::size_t>(valid));
  const float sum = row_exp_sum(s, static_cast<std::size_t>(valid), 1.0f, m);
  if (lse != nullptr) *lse = m + std::log(sum);
  return sum;
}

// ---- AVX2: head_dim = 8 * NV --------------------------------------------

template <int NV>
inline __m128 dot4_256(const __m256* qv, const float* k0, const float* k1, const float* k2,
                       const float* k3) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int e = 0; e < NV; ++e) {
    a0 = _mm256_fmadd_ps(qv[e], _mm256_loadu_ps(k0 + 8 * e), a0);
    a1 = _mm256_fmadd_ps(qv[e], _mm256_loadu_ps(k1 + 8 * e), a1);
    a2 = _mm256_fmadd_ps(qv[e], _mm256_loadu_ps(k2 + 8 * e), a2);
    a3 = _mm256_fmadd_ps(qv[e], _mm256_loadu_ps(k3 + 8 * e), a3);
  }
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

template <int NV>
void row_avx2(float* out, const float* q, const float* k, int ldk, const float* v, int ldv,
              int valid, float scale, float* s, float* lse) {
  constexpr int kRowBytes = 32 * NV;
  __m256 qv[NV];
  const __m256 vs = _mm256_set1_ps(scale);
  for (int e = 0; e < NV; ++e) qv[e] = _mm256_mul_ps(_mm256_loadu_ps(q + 8 * e), vs);
  auto krow = [&](int j) { return k + static_cast<std::size_t>(j) * ldk; };
  auto vrow = [&](int j) { return v + static_cast<std::size_t>(j) * ldv; };
  for (int j = 0; j < std::min(valid, kPrefetchKeys); ++j) prefetch_row(krow(j), kRowBytes);
  int j = 0;
  for (; j + 4 <= valid; j += 4) {
    for (int t = 0; t < 4; ++t) {
      if (j + kPrefetchKeys + t < valid) prefetch_row(krow(j + kPrefetchKeys + t), kRowBytes);
      prefetch_row(vrow(j + t), kRowBytes);
    }
    _mm_storeu_ps(s + j, dot4_256<NV>(qv, krow(j), krow(j + 1), krow(j + 2), krow(j + 3)));
  }
  for (; j < valid; ++j) {
    prefetch_row(vrow(j), kRowBytes);
    __m256 acc = _mm256_setzero_ps();
    for (int e = 0; e < NV; ++e)
      acc = _mm256_fmadd_ps(qv[e], _mm256_loadu_ps(krow(j) + 8 * e), acc);
    s[j] = hsum256(acc);
  }
  const float inv = 1.0f / softmax_unnormalised(s, valid, lse);
  constexpr int kSets = NV >= 8 ? 1 : 8 / NV;  // >= 8 independent FMA chains
  __m256 o[kSets][NV];
  for (int u = 0; u < kSets; ++u)
    for (int e = 0; e < NV; ++e) o[u][e] = _mm256_setzero_ps();
  j = 0;
  for (; j + kSets <= valid; j += kSets) {
    for (int u = 0; u < kSets; ++u) {
      const __m256 p = _mm256_broadcast_ss(s + j + u);
      for (int e = 0; e < NV; ++e)
        o[u][e] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vrow(j + u) + 8 * e), o[u][e]);
    }
  }
  for (; j < valid; ++j) {
    const __m256 p = _mm256_broadcast_ss(s + j);
    for (int e = 0; e < NV; ++e)
      o[0][e] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vrow(j) + 8 * e), o[0][e]);
  }
  const __m256 vinv = _mm256_set1_ps(inv);
  for (int e = 0; e < NV; ++e) {
    __m256 sum = o[0][e];
    for (int u = 1; u < kSets; ++u) sum = _mm256_add_ps(sum, o[u][e]);
    _mm256_storeu_ps(out + 8 * e, _mm256_mul_ps(sum, vinv));
  }
}

// ---- AVX-512: head_dim = 16 * NZ ----------------------------------------

#define MASQUE_AVX512 __attribute__((target("avx512f,avx512dq")))

// Sixteen vectors of partial dot products -> one vector of their sums, key
// t in lane t: pairwise interleave-and-add within 128-bit lanes (two
// levels), then across lanes (two levels); 45 instructions for 16 keys
// where 16 horizontal sums would take ~130.
MASQUE_AVX512 inline __m512 reduce16(__m512* a) {
  __m512 t[8];
  for (int i = 0; i < 8; ++i)
    t[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                         _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  __m512 u[4];
  for (int i = 0; i < 4; ++i) {
    const __m512d x = _mm512_castps_pd(t[2 * i]), y = _mm512_castps_pd(t[2 * i + 1]);
    u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  // u[i] lane L holds keys 4i..4i+3 summed over the elements of lane L.
  const __m512 v0 =
      _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88), _mm512_shuffle_f32x4(u[0], u[1], 0xDD));
  const __m512 v1 =
      _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x88), _mm512_shuffle_f32x4(u[2], u[3], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x88), _mm512_shuffle_f32x4(v0, v1, 0xDD));
}

template <int NZ>
MASQUE_AVX512 void row_avx512(float* out, const float* q, const float* k, int ldk, const float* v,
                              int ldv, int valid, float scale, float* s, float* lse) {
  constexpr int kRowBytes = 64 * NZ;
  __m512 qv[NZ];
  const __m512 vs = _mm512_set1_ps(scale);
  for (int e = 0; e < NZ; ++e) qv[e] = _mm512_mul_ps(_mm512_loadu_ps(q + 16 * e), vs);
  auto krow = [&](int j) { return k + static_cast<std::size_t>(j) * ldk; };
  auto vrow = [&](int j) { return v + static_cast<std::size_t>(j) * ldv; };
  for (int j = 0; j < std::min(valid, kPrefetchKeys); ++j) prefetch_row(krow(j), kRowBytes);
  int j = 0;
  for (; j + 16 <= valid; j += 16) {
    __m512 acc[16];
    for (int t = 0; t < 16; ++t) {
      if (j + kPrefetchKeys + t < valid) prefetch_row(krow(j + kPrefetchKeys + t), kRowBytes);
      prefetch_row(vrow(j + t), kRowBytes);
      const float* kr = krow(j + t);
      acc[t] = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kr));
      for (int e = 1; e < NZ; ++e)
        acc[t] = _mm512_fmadd_ps(qv[e], _mm512_loadu_ps(kr + 16 * e), acc[t]);
    }
    _mm512_storeu_ps(s + j, reduce16(acc));
  }
  for (; j < valid; ++j) {
    prefetch_row(vrow(j), kRowBytes);
    const float* kr = krow(j);
    __m512 acc = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kr));
    for (int e = 1; e < NZ; ++e) acc = _mm512_fmadd_ps(qv[e], _mm512_loadu_ps(kr + 16 * e), acc);
    s[j] = _mm512_reduce_add_ps(acc);
  }
  const float inv = 1.0f / softmax_unnormalised(s, valid, lse);
  constexpr int kSets = NZ >= 8 ? 1 : 8 / NZ;  // >= 8 independent FMA chains
  __m512 o[kSets][NZ];
  for (int u = 0; u < kSets; ++u)
    for (int e = 0; e < NZ; ++e) o[u][e] = _mm512_setzero_ps();
  j = 0;
  for (; j + kSets <= valid; j += kSets) {
    for (int u = 0; u < kSets; ++u) {
      const __m512 p = _mm512_set1_ps(s[j + u]);
      for (int e = 0; e < NZ; ++e)
        o[u][e] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vrow(j + u) + 16 * e), o[u][e]);
    }
  }
  for (; j < valid; ++j) {
    const __m512 p = _mm512_set1_ps(s[j]);
    for (int e = 0; e < NZ; ++e)
      o[0][e] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vrow(j) + 16 * e), o[0][e]);
  }
  const __m512 vinv = _mm512_set1_ps(inv);
  for (int e = 0; e < NZ; ++e) {
    __m512 sum = o[0][e];
    for (int u = 1; u < kSets; ++u) sum = _mm512_add_ps(sum, o[u][e]);
    _mm512_storeu_ps(out + 16 * e, _mm512_mul_ps(sum, vinv));
  }
}

}  // namespace

bool decode_attention_row(float* out, const float* q, const float* k, int ldk, const float* v,
                          int ldv, int valid, int head_dim, float scale, float* s, float* lse,
                          CpuIsa isa) {
  if (head_dim != 32 && head_dim != 64 && head_dim != 128) return false;
  if (resolve_isa(isa) == CpuIsa::kAvx512) {
    switch (head_dim) {
      case 32:
        row_avx512<2>(out, q, k, ldk, v, ldv, valid, scale, s, lse);
        break;
      case 64:
        row_avx512<4>(out, q, k, ldk, v, ldv, valid, scale, s, lse);
        break;
      default:
        row_avx512<8>(out, q, k, ldk, v, ldv, valid, scale, s, lse);
        break;
    }
  } else {
    switch (head_dim) {
      case 32:
        row_avx2<4>(out, q, k, ldk, v, ldv, valid, scale, s, lse);
        break;
      case 64:
        row_avx2<8>(out, q, k, ldk, v, ldv, valid, scale, s, lse);
        break;
      default:
        row_avx2<16>(out, q, k, ldk, v, ldv, valid, scale, s, lse);
        break;
    }
  }
  return true;
}

}  // namespace masque::cpu
