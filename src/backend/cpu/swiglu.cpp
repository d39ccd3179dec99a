// SwiGLU forward/backward (see swiglu.h), AVX2 with the shared exp.
#include "backend/cpu/swiglu.h"

#include <cstddef>

#include "backend/cpu/vec_math.h"

namespace masque::cpu {

namespace {
inline __m256 sigmoid256(__m256 g) {
  const __m256 one = _mm256_set1_ps(1.0f);
  // 1/(1+exp(-g)); exp256 returns 0 (not inf) for very negative input, so
  // large negative g gives exp(-g) clamped large: 1/(1+big) ~ 0, as wanted.
  return _mm256_div_ps(one, _mm256_add_ps(one, exp256_ps(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}
inline float sigmoid_scalar(float g) { return 1.0f / (1.0f + exp_scalar(-g)); }
}  // namespace

void swiglu_forward(float* out, const float* gate_up, int rows, int ff) {
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * ff >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* g = gate_up + static_cast<std::size_t>(row) * 2 * ff;
    const float* u = g + ff;
    float* h = out + static_cast<std::size_t>(row) * ff;
    int i = 0;
    for (; i + 8 <= ff; i += 8) {
      const __m256 vg = _mm256_loadu_ps(g + i);
      const __m256 silu = _mm256_mul_ps(vg, sigmoid256(vg));
      _mm256_storeu_ps(h + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
    }
    for (; i < ff; ++i) h[i] = g[i] * sigmoid_scalar(g[i]) * u[i];
  }
}

void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows, int ff) {
  // d silu(g)/dg = s * (1 + g * (1 - s)), s = sigmoid(g).
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * ff >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* g = gate_up + static_cast<std::size_t>(row) * 2 * ff;
    const float* u = g + ff;
    const float* dh = dout + static_cast<std::size_t>(row) * ff;
    float* dg = dgate_up + static_cast<std::size_t>(row) * 2 * ff;
    float* du = dg + ff;
    const __m256 one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= ff; i += 8) {
      const __m256 vg = _mm256_loadu_ps(g + i);
      const __m256 vu = _mm256_loadu_ps(u + i);
      const __m256 vd = _mm256_loadu_ps(dh + i);
      const __m256 s = sigmoid256(vg);
      const __m256 silu = _mm256_mul_ps(vg, s);
      const __m256 dsilu = _mm256_mul_ps(s, _mm256_fmadd_ps(vg, _mm256_sub_ps(one, s), one));
      _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(vd, vu), dsilu));
      _mm256_storeu_ps(du + i, _mm256_mul_ps(vd, silu));
    }
    for (; i < ff; ++i) {
      // Read everything before writing: dgate_up may alias gate_up.
      const float gi = g[i];
      const float ui = u[i];
      const float s = sigmoid_scalar(gi);
      dg[i] = dh[i] * ui * (s * (1.0f + gi * (1.0f - s)));
      du[i] = dh[i] * gi * s;
    }
  }
}

}  // namespace masque::cpu
