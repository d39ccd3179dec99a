// AdamW and the sum of squares (see optimizer.h). Every element of AdamW is
// independent, so the OpenMP split cannot change results.
#include "backend/cpu/optimizer.h"

#include <cmath>
#include <vector>

namespace masque::cpu {

void adamw_update(float* param, const float* grad, float* m, float* v, const float* mask,
                  std::size_t count, float lr, float beta1, float beta2, float eps,
                  float weight_decay, std::int64_t step) {
  const double t = static_cast<double>(step);
  // Bias corrections folded as in PyTorch: step_size = lr / bc1,
  // denom = sqrt(v) / sqrt(bc2) + eps.
  const float bias_correction1 = static_cast<float>(1.0 - std::pow(beta1, t));
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t)));
  const float step_size = lr / bias_correction1;
  const float decay = lr * weight_decay;
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    float p = param[i];
    p = p * (1.0f - decay * (mask != nullptr ? mask[i] : 1.0f));
    const float g = grad[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / bias_correction2_sqrt + eps;
    param[i] = p - step_size * (mi / denom);
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
