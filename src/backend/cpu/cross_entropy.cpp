// Fused softmax cross-entropy (see cross_entropy.h): one max pass and one
// exp-sum pass per row forward, one pass backward; rows split across threads.
#include "backend/cpu/cross_entropy.h"

#include <cmath>
#include <cstddef>

#include "backend/cpu/vec_math.h"

namespace masque::cpu {

void softmax_cross_entropy_forward(float* losses, float* lse, const float* logits,
                                   const std::int32_t* targets, int rows, int vocab) {
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * vocab >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* x = logits + static_cast<std::size_t>(row) * vocab;
    const float m = row_max(x, vocab);
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= vocab; i += 8)
      acc = _mm256_add_ps(acc, exp256_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
    float sum = hsum256(acc);
    for (; i < vocab; ++i) sum += exp_scalar(x[i] - m);
    const float row_lse = m + std::log(sum);
    lse[row] = row_lse;
    const std::int32_t target = targets[row];
    losses[row] = target < 0 ? 0.0f : row_lse - x[target];
  }
}

void softmax_cross_entropy_backward(float* dlogits, const float* logits, const float* lse,
                                    const std::int32_t* targets, int rows, int vocab, float scale) {
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * vocab >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* x = logits + static_cast<std::size_t>(row) * vocab;
    float* dx = dlogits + static_cast<std::size_t>(row) * vocab;
    const std::int32_t target = targets[row];
    if (target < 0) {
      for (int i = 0; i < vocab; ++i) dx[i] = 0.0f;
      continue;
    }
    const __m256 vl = _mm256_set1_ps(lse[row]);
    const __m256 vs = _mm256_set1_ps(scale);
    int i = 0;
    for (; i + 8 <= vocab; i += 8) {
      const __m256 p = exp256_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vl));
      _mm256_storeu_ps(dx + i, _mm256_mul_ps(p, vs));
    }
    for (; i < vocab; ++i) dx[i] = exp_scalar(x[i] - lse[row]) * scale;
    dx[target] -= scale;
  }
}

}  // namespace masque::cpu
