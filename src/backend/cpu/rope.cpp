// RoPE forward/backward (see rope.h). The backward is the same rotation with
// the sine negated, since the rotation is orthogonal.
#include "backend/cpu/rope.h"

#include <cmath>
#include <cstddef>

#include "backend/cpu/vec_math.h"

namespace masque::cpu {

RopeTables make_rope_tables(int max_pos, int head_dim, double theta) {
  std::vector<double> inv_freq(static_cast<std::size_t>(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i) inv_freq[i] = std::pow(theta, -2.0 * i / head_dim);
  return make_rope_tables(max_pos, inv_freq);
}

RopeTables make_rope_tables(int max_pos, const std::vector<double>& inv_freq) {
  RopeTables t;
  t.max_pos = max_pos;
  t.half = static_cast<int>(inv_freq.size());
  t.cos.resize(static_cast<std::size_t>(max_pos) * t.half);
  t.sin.resize(t.cos.size());
  for (int pos = 0; pos < max_pos; ++pos) {
    for (int i = 0; i < t.half; ++i) {
      const double angle = pos * inv_freq[i];
      t.cos[static_cast<std::size_t>(pos) * t.half + i] = static_cast<float>(std::cos(angle));
      t.sin[static_cast<std::size_t>(pos) * t.half + i] = static_cast<float>(std::sin(angle));
    }
  }
  return t;
}

namespace {
// Rotates row r by position pos_of(r); the sign selects forward (+1) or the
// inverse rotation (-1, the backward).
template <typename PosOf>
void rotate(float* x, int rows, int n_heads, int head_dim, int ld, const float* cos_table,
            const float* sin_table, float sign, PosOf pos_of) {
  const int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * n_heads * head_dim >= \
                                              kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const std::size_t pos = static_cast<std::size_t>(pos_of(row));
    const float* c = cos_table + pos * half;
    const float* s = sin_table + pos * half;
    for (int h = 0; h < n_heads; ++h) {
      float* a = x + static_cast<std::size_t>(row) * ld + static_cast<std::size_t>(h) * head_dim;
      float* b = a + half;
      for (int i = 0; i < half; ++i) {
        const float sn = sign * s[i];
        const float x1 = a[i];
        const float x2 = b[i];
        a[i] = x1 * c[i] - x2 * sn;
        b[i] = x2 * c[i] + x1 * sn;
      }
    }
  }
}
}  // namespace

void rope_forward_at(float* x, const std::int32_t* positions, int rows, int n_heads, int head_dim,
                     int ld, const float* cos_table, const float* sin_table) {
  rotate(x, rows, n_heads, head_dim, ld, cos_table, sin_table, 1.0f,
         [&](int r) { return positions[r]; });
}

void rope_backward_at(float* dx, const std::int32_t* positions, int rows, int n_heads, int head_dim,
                      int ld, const float* cos_table, const float* sin_table) {
  rotate(dx, rows, n_heads, head_dim, ld, cos_table, sin_table, -1.0f,
         [&](int r) { return positions[r]; });
}

void rope_forward(float* x, int B, int T, int n_heads, int head_dim, int ld, int pos_offset,
                  const RopeTables& tables) {
  rotate(x, B * T, n_heads, head_dim, ld, tables.cos.data(), tables.sin.data(), 1.0f,
         [&](int r) { return pos_offset + r % T; });
}

void rope_backward(float* dx, int B, int T, int n_heads, int head_dim, int ld, int pos_offset,
                   const RopeTables& tables) {
  rotate(dx, B * T, n_heads, head_dim, ld, tables.cos.data(), tables.sin.data(), -1.0f,
         [&](int r) { return pos_offset + r % T; });
}

}  // namespace masque::cpu
