// Row and elementwise ops: residual adds, scaling, and the interventions on
// selected rows of an activation (add a vector, project a direction out,
// gather rows for observation).
#pragma once
#include <cstddef>
#include <cstdint>

namespace masque::cpu {

void add_inplace(float* out, const float* a, std::size_t n);
void scale_inplace(float* x, std::size_t n, float factor);

// x[rows[i]] += alpha * vec (rows of width dim).
void add_vector_rows(float* x, int dim, const std::int32_t* rows, std::size_t n_rows,
                     const float* vec, float alpha);
// x[rows[i]] -= (x . u) u for a unit vector u; the dot product is taken in float64.
void project_out_rows(float* x, int dim, const std::int32_t* rows, std::size_t n_rows,
                      const float* unit);
// out [n_rows, dim] = x[rows[i]].
void gather_rows(float* out, const float* x, int dim, const std::int32_t* rows, std::size_t n_rows);

}  // namespace masque::cpu
