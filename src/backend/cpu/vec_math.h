// Vectorized helpers shared by the CPU kernels: an AVX2+FMA exp (Cephes
// polynomial, ~2 ulp, the same one avx_mathfun uses) and row reductions.
// glibc's expf does not vectorize without -ffast-math, and exp dominates the
// non-GEMM time of softmax, cross-entropy and SwiGLU, hence this file.
// Every reduction runs in a fixed order, so results do not depend on timing.
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstddef>

namespace masque::cpu {

// Element count below which a kernel runs on the calling thread: waking the
// OpenMP team costs more than it saves on small work (decoding one token,
// tiny test models).
constexpr long kParallelMinWork = 1L << 14;

// Columns [begin, end) of a dim-wide row that thread `tid` of `nthreads` owns
// when threads split a column reduction (dweight += over rows): slices are
// rounded to 16 floats so no two threads write one cache line, and each
// column is summed by one thread in row order, so results are deterministic.
struct ColumnSlice {
  int begin;
  int end;
};
inline ColumnSlice column_slice(int dim, int tid, int nthreads) {
  const int chunk = ((dim + nthreads - 1) / nthreads + 15) / 16 * 16;
  const int begin = tid * chunk < dim ? tid * chunk : dim;
  const int end = begin + chunk < dim ? begin + chunk : dim;
  return {begin, end};
}

// exp(x) for 8 floats; inputs below -87.3 give 0 (not denormals), above 88.3 clamp.
inline __m256 exp256_ps(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-87.3365478515625f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(x, hi);
  x = _mm256_max_ps(x, lo);
  // n = round(x / ln 2); r = x - n ln 2 in two parts for precision.
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 x2 = _mm256_mul_ps(x, x);
  y = _mm256_fmadd_ps(y, x2, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i n = _mm256_cvttps_epi32(fx);
  n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(n));
  return _mm256_andnot_ps(underflow, y);
}

// exp256_ps on 16 lanes (AVX-512 CPUs only), operation for operation, so each lane
// gets the bits exp256_ps gives it.
__attribute__((target("avx512f,avx512dq"))) inline __m512 exp256_ps_x16(__m512 x) {
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3365478515625f), _CMP_LT_OQ);
  x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3365478515625f));
  __m512 fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
  fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);  // floor
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 x2 = _mm512_mul_ps(x, x);
  y = _mm512_fmadd_ps(y, x2, _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
  __m512i n = _mm512_cvttps_epi32(fx);
  n = _mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23);
  y = _mm512_mul_ps(y, _mm512_castsi512_ps(n));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~underflow), y);
}

// Scalar twin of exp256_ps for loop tails, so a row gives the same value at
// every position whether it falls in the vector body or the tail.
inline float exp_scalar(float x) {
  alignas(32) float buf[8] = {x, 0, 0, 0, 0, 0, 0, 0};
  _mm256_store_ps(buf, exp256_ps(_mm256_load_ps(buf)));
  return buf[0];
}

inline float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 shuf = _mm_movehdup_ps(lo);
  lo = _mm_add_ps(lo, shuf);
  shuf = _mm_movehl_ps(shuf, lo);
  lo = _mm_add_ss(lo, shuf);
  return _mm_cvtss_f32(lo);
}

inline float hmax256(__m256 v) {
  __m128 lo = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline float row_max(const float* x, std::size_t n) {
  std::size_t i = 0;
  float m = -INFINITY;
  if (n >= 8) {
    __m256 vm = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    m = hmax256(vm);
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// x[i] = exp(x[i] * scale - shift) in place; returns the sum of the results.
inline float row_exp_sum(float* x, std::size_t n, float scale, float shift) {
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256 vsh = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp256_ps(_mm256_fmsub_ps(_mm256_loadu_ps(x + i), vs, vsh));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = hsum256(acc);
  for (; i < n; ++i) {
    x[i] = exp_scalar(std::fma(x[i], scale, -shift));
    sum += x[i];
  }
  return sum;
}

inline void row_scale(float* x, std::size_t n, float scale) {
  const __m256 vs = _mm256_set1_ps(scale);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
  for (; i < n; ++i) x[i] *= scale;
}

inline float row_dot(const float* a, const float* b, std::size_t n) {
  __m256 acc = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float sum = hsum256(acc);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace masque::cpu
