// RMSNorm forward/backward (see rmsnorm.h). Rows are independent and split
// across threads; the weight gradient is split by columns so each element is
// summed over rows in one fixed order (deterministic, no partial buffers).
#include "backend/cpu/rmsnorm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "backend/cpu/vec_math.h"

namespace masque::cpu {

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int rows,
                     int dim, float eps) {
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * dim >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* x = inp + static_cast<std::size_t>(row) * dim;
    float* y = out + static_cast<std::size_t>(row) * dim;
    const float ms = row_dot(x, x, dim) / static_cast<float>(dim);
    const float r = 1.0f / std::sqrt(ms + eps);
    if (rstd != nullptr) rstd[row] = r;
    for (int i = 0; i < dim; ++i) y[i] = weight[i] * (x[i] * r);
  }
}

void rmsnorm_apply(float* out, const float* rstd, const float* inp, const float* weight, int rows,
                   int dim) {
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * dim >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* x = inp + static_cast<std::size_t>(row) * dim;
    float* y = out + static_cast<std::size_t>(row) * dim;
    const float r = rstd[row];
    for (int i = 0; i < dim; ++i) y[i] = weight[i] * (x[i] * r);
  }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int rows, int dim) {
  // With xh = x * r: dx = r * (w*dy - xh * mean(w*dy*xh)).
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * dim >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* x = inp + static_cast<std::size_t>(row) * dim;
    const float* dy = dout + static_cast<std::size_t>(row) * dim;
    float* dx = dinp + static_cast<std::size_t>(row) * dim;
    const float r = rstd[row];
    // sum(w*dy*x), vectorized in a fixed order.
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= dim; i += 8) {
      acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(weight + i), _mm256_loadu_ps(dy + i)),
                            _mm256_loadu_ps(x + i), acc);
    }
    float dot = hsum256(acc);
    for (; i < dim; ++i) dot += weight[i] * dy[i] * x[i];
    const float coef = dot * r * r / static_cast<float>(dim);
    for (int i = 0; i < dim; ++i) dx[i] += r * (weight[i] * dy[i] - x[i] * coef);
  }
  if (dweight == nullptr) return;
#pragma omp parallel if (static_cast <long>(rows) * dim >= kParallelMinWork)
  {
    const ColumnSlice slice = column_slice(dim, omp_get_thread_num(), omp_get_num_threads());
    const int c0 = slice.begin;
    const int c1 = slice.end;
    for (int row = 0; row < rows && c0 < c1; ++row) {
      const float* x = inp + static_cast<std::size_t>(row) * dim;
      const float* dy = dout + static_cast<std::size_t>(row) * dim;
      const float r = rstd[row];
      for (int c = c0; c < c1; ++c) dweight[c] += dy[c] * (x[c] * r);
    }
  }
}

}  // namespace masque::cpu
