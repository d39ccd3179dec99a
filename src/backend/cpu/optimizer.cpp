// AdamW and the sum of squares (see optimizer.h). Every element of AdamW is
// independent, so the OpenMP split cannot change results.
#include "backend/cpu/intrinsics.h"
// (intrinsics.h first: it silences GCC's false warnings in <immintrin.h>.)
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/optimizer.h"
#include "backend/cpu/vec_math.h"

namespace masque::cpu {

namespace {

#define MASQUE_AVX512 __attribute__((target("avx512f,avx512dq")))

// The update's constants, folded once per call.
struct AdamWConsts {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, step_size, decay,
      bias_correction2_sqrt;
};

// One element (the vector loops' tails), the scalar spelling of their bodies:
//   keep  = 1 - decay * mask                 (one rounding: fnmadd)
//   p     = param * keep
//   m'    = beta1 * m + (1 - beta1) * g      (fmadd over the rounded product)
//   v'    = beta2 * v + ((1 - beta2) * g) * g
//   param = p - step_size * (m' / (sqrt(v') / bc2 + eps))   (fnmadd)
inline void adamw_one(float* param, const float* grad, float* m, float* v, const float* mask,
                      std::size_t i, const AdamWConsts& k) {
  const float keep = std::fma(-k.decay, mask != nullptr ? mask[i] : 1.0f, 1.0f);
  const float p = param[i] * keep;
  const float g = grad[i];
  const float mi = std::fma(k.beta1, m[i], k.one_minus_beta1 * g);
  const float vi = std::fma(k.beta2, v[i], (k.one_minus_beta2 * g) * g);
  m[i] = mi;
  v[i] = vi;
  const float denom = std::sqrt(vi) / k.bias_correction2_sqrt + k.eps;
  param[i] = std::fma(-(mi / denom), k.step_size, p);
}

// Elements [begin, end) 8 at a time, then one by one.
void adamw_range_avx2(float* param, const float* grad, float* m, float* v, const float* mask,
                      std::size_t begin, std::size_t end, const AdamWConsts& k) {
  const __m256 one = _mm256_set1_ps(1.0f), decay = _mm256_set1_ps(k.decay),
               b1 = _mm256_set1_ps(k.beta1), b2 = _mm256_set1_ps(k.beta2),
               c1 = _mm256_set1_ps(k.one_minus_beta1), c2 = _mm256_set1_ps(k.one_minus_beta2),
               eps = _mm256_set1_ps(k.eps), step = _mm256_set1_ps(k.step_size),
               bc2 = _mm256_set1_ps(k.bias_correction2_sqrt);
  std::size_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256 mk = mask != nullptr ? _mm256_loadu_ps(mask + i) : one;
    const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(param + i), _mm256_fnmadd_ps(decay, mk, one));
    const __m256 g = _mm256_loadu_ps(grad + i);
    const __m256 mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, g));
    const __m256 vi =
        _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(_mm256_mul_ps(c2, g), g));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
    _mm256_storeu_ps(param + i, _mm256_fnmadd_ps(_mm256_div_ps(mi, denom), step, p));
  }
  for (; i < end; ++i) adamw_one(param, grad, m, v, mask, i, k);
}

MASQUE_AVX512 void adamw_range_avx512(float* param, const float* grad, float* m, float* v,
                                      const float* mask, std::size_t begin, std::size_t end,
                                      const AdamWConsts& k) {
  const __m512 one = _mm512_set1_ps(1.0f), decay = _mm512_set1_ps(k.decay),
               b1 = _mm512_set1_ps(k.beta1), b2 = _mm512_set1_ps(k.beta2),
               c1 = _mm512_set1_ps(k.one_minus_beta1), c2 = _mm512_set1_ps(k.one_minus_beta2),
               eps = _mm512_set1_ps(k.eps), step = _mm512_set1_ps(k.step_size),
               bc2 = _mm512_set1_ps(k.bias_correction2_sqrt);
  std::size_t i = begin;
  for (; i + 16 <= end; i += 16) {
    const __m512 mk = mask != nullptr ? _mm512_loadu_ps(mask + i) : one;
    const __m512 p = _mm512_mul_ps(_mm512_loadu_ps(param + i), _mm512_fnmadd_ps(decay, mk, one));
    const __m512 g = _mm512_loadu_ps(grad + i);
    const __m512 mi = _mm512_fmadd_ps(b1, _mm512_loadu_ps(m + i), _mm512_mul_ps(c1, g));
    const __m512 vi =
        _mm512_fmadd_ps(b2, _mm512_loadu_ps(v + i), _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
    _mm512_storeu_ps(param + i, _mm512_fnmadd_ps(_mm512_div_ps(mi, denom), step, p));
  }
  adamw_range_avx2(param, grad, m, v, mask, i, end, k);
}

}  // namespace

void adamw_update(float* param, const float* grad, float* m, float* v, const float* mask,
                  std::size_t count, float lr, float beta1, float beta2, float eps,
                  float weight_decay, std::int64_t step, CpuIsa isa) {
  const double t = static_cast<double>(step);
  // Bias corrections folded as in PyTorch: step_size = lr / bc1,
  // denom = sqrt(v) / sqrt(bc2) + eps.
  const float bias_correction1 = static_cast<float>(1.0 - std::pow(beta1, t));
  AdamWConsts k;
  k.beta1 = beta1;
  k.beta2 = beta2;
  k.one_minus_beta1 = 1.0f - beta1;
  k.one_minus_beta2 = 1.0f - beta2;
  k.eps = eps;
  k.step_size = lr / bias_correction1;
  k.decay = lr * weight_decay;
  k.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t)));
  const bool avx512 = resolve_isa(isa) == CpuIsa::kAvx512;
  // Each thread a contiguous run of whole 64-float blocks (every width
  // divides them), so which thread runs an element never decides whether
  // it falls in a vector body or a tail.
  constexpr std::size_t kBlock = 64;
  const std::size_t blocks = (count + kBlock - 1) / kBlock;
#pragma omp parallel if (count >= 4 * static_cast <std::size_t>(kParallelMinWork))
  {
    const std::size_t threads = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t tid = static_cast<std::size_t>(omp_get_thread_num());
    const std::size_t begin = std::min(count, blocks * tid / threads * kBlock);
    const std::size_t end = std::min(count, blocks * (tid + 1) / threads * kBlock);
    if (avx512) {
      adamw_range_avx512(param, grad, m, v, mask, begin, end, k);
    } else {
      adamw_range_avx2(param, grad, m, v, mask, begin, end, k);
    }
  }
}

double sum_squares(const float* x, std::size_t count) {
  constexpr std::ptrdiff_t kChunk = 1 << 14;
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(count);
  const std::ptrdiff_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::ptrdiff_t begin = c * kChunk;
    const std::ptrdiff_t end = begin + kChunk < n ? begin + kChunk : n;
    double sum = 0.0;
    for (std::ptrdiff_t i = begin; i < end; ++i) {
      const double g = x[i];
      sum += g * g;
    }
    partial[static_cast<std::size_t>(c)] = sum;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace masque::cpu
