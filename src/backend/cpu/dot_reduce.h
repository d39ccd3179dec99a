// Folding accumulators of dot products into stored sums, shared by the
// decoding kernels (skinny_matmul.cpp: R x 4 tiles; gemv.cpp: 8-row blocks):
// four accumulators fold into one 4-float vector with a transposing
// reduction, cheaper than four horizontal sums. The AVX-512 fold is compiled
// for AVX-512 by attribute, as the kernels that call it, so the build's
// baseline stays AVX2+FMA.
#pragma once
#include <immintrin.h>

namespace masque::cpu {

// Stores n sums into out, honouring beta (out = s + beta * out; beta 0 never
// reads out, which may be uninitialized).
inline void store_dot_sums(float* out, const float* s, int n, float beta) {
  for (int j = 0; j < n; ++j) out[j] = beta == 0.0f ? s[j] : s[j] + beta * out[j];
}

// The horizontal sums of a0..a3, as one 4-float vector.
__attribute__((target("avx512f,avx512dq"))) inline __m128 reduce4_512(__m512 a0, __m512 a1,
                                                                      __m512 a2, __m512 a3) {
  const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
  const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
  const __m512d t0d = _mm512_castps_pd(t0), t1d = _mm512_castps_pd(t1);
  const __m512 u = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(t0d, t1d)),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(t0d, t1d)));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(u), _mm512_extractf32x8_ps(u, 1));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// The horizontal sums of a0..a3, as one 4-float vector (AVX2).
inline __m128 reduce4_256(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 u = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

}  // namespace masque::cpu
