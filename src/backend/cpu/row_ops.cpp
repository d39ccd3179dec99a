// Row and elementwise ops (see row_ops.h). Each row or element is
// independent, so threads cannot change results.
#include "backend/cpu/row_ops.h"

#include <cstring>

#include "backend/cpu/vec_math.h"

namespace masque::cpu {

void add_inplace(float* out, const float* a, std::size_t count) {
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(static) if (n >= 4 * kParallelMinWork)
  for (std::ptrdiff_t i = 0; i < n; ++i) out[i] += a[i];
}

void scale_inplace(float* x, std::size_t count, float factor) {
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(static) if (n >= 4 * kParallelMinWork)
  for (std::ptrdiff_t i = 0; i < n; ++i) x[i] *= factor;
}

void add_vector_rows(float* x, int dim, const std::int32_t* rows, std::size_t n_rows,
                     const float* vec, float alpha) {
  for (std::size_t i = 0; i < n_rows; ++i) {
    float* row = x + static_cast<std::size_t>(rows[i]) * dim;
    for (int j = 0; j < dim; ++j) row[j] += alpha * vec[j];
  }
}

void project_out_rows(float* x, int dim, const std::int32_t* rows, std::size_t n_rows,
                      const float* unit) {
  for (std::size_t i = 0; i < n_rows; ++i) {
    float* row = x + static_cast<std::size_t>(rows[i]) * dim;
    double dot = 0.0;
    for (int j = 0; j < dim; ++j) dot += static_cast<double>(row[j]) * unit[j];
    const float c = static_cast<float>(dot);
    for (int j = 0; j < dim; ++j) row[j] -= c * unit[j];
  }
}

void gather_rows(float* out, const float* x, int dim, const std::int32_t* rows,
                 std::size_t n_rows) {
  for (std::size_t i = 0; i < n_rows; ++i) {
    std::memcpy(out + i * dim, x + static_cast<std::size_t>(rows[i]) * dim, sizeof(float) * dim);
  }
}

}  // namespace masque::cpu
