// Embedding gather and its deterministic scatter-add backward (see embedding.h).
#include "backend/cpu/embedding.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/vec_math.h"

namespace masque::cpu {

void embedding_forward(float* out, const std::int32_t* tokens, const float* table, int rows,
                       int dim) {
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * dim >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    std::memcpy(out + static_cast<std::size_t>(row) * dim,
                table + static_cast<std::size_t>(tokens[row]) * dim, sizeof(float) * dim);
  }
}

void embedding_backward(float* dtable, const float* dout, const std::int32_t* tokens, int rows,
                        int dim) {
#pragma omp parallel if (static_cast <long>(rows) * dim >= kParallelMinWork)
  {
    const ColumnSlice slice = column_slice(dim, omp_get_thread_num(), omp_get_num_threads());
    const int c0 = slice.begin;
    const int c1 = slice.end;
    for (int row = 0; row < rows && c0 < c1; ++row) {
      float* dst = dtable + static_cast<std::size_t>(tokens[row]) * dim;
      const float* src = dout + static_cast<std::size_t>(row) * dim;
      for (int c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

}  // namespace masque::cpu
