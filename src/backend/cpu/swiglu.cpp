// SwiGLU forward/backward (see swiglu.h): AVX2 with the shared exp, and an
// AVX-512 twin of the same operations.
#include "backend/cpu/intrinsics.h"
// (intrinsics.h first: it silences GCC's false warnings in <immintrin.h>.)
#include <cstddef>

#include "backend/cpu/swiglu.h"
#include "backend/cpu/vec_math.h"

namespace masque::cpu {

namespace {

#define MASQUE_AVX512 __attribute__((target("avx512f,avx512dq")))

inline __m256 sigmoid256(__m256 g) {
  const __m256 one = _mm256_set1_ps(1.0f);
  // 1/(1+exp(-g)); exp256 returns 0 (not inf) for very negative input, so
  // large negative g gives exp(-g) clamped large: 1/(1+big) ~ 0, as wanted.
  return _mm256_div_ps(one, _mm256_add_ps(one, exp256_ps(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}
inline float sigmoid_scalar(float g) { return 1.0f / (1.0f + exp_scalar(-g)); }

MASQUE_AVX512 inline __m512 sigmoid512(__m512 g) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one,
                       _mm512_add_ps(one, exp256_ps_x16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
}

// Elements [i, ff) of one row, 8 at a time then one by one: the AVX2 path's
// loop, also the AVX-512 path's tail (so both give the same bits everywhere).
void forward_row_from(float* h, const float* g, const float* u, int i, int ff) {
  for (; i + 8 <= ff; i += 8) {
    const __m256 vg = _mm256_loadu_ps(g + i);
    const __m256 silu = _mm256_mul_ps(vg, sigmoid256(vg));
    _mm256_storeu_ps(h + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  for (; i < ff; ++i) h[i] = g[i] * sigmoid_scalar(g[i]) * u[i];
}

MASQUE_AVX512 void forward_row_512(float* h, const float* g, const float* u, int ff) {
  int i = 0;
  for (; i + 16 <= ff; i += 16) {
    const __m512 vg = _mm512_loadu_ps(g + i);
    const __m512 silu = _mm512_mul_ps(vg, sigmoid512(vg));
    _mm512_storeu_ps(h + i, _mm512_mul_ps(silu, _mm512_loadu_ps(u + i)));
  }
  forward_row_from(h, g, u, i, ff);
}

// d silu(g)/dg = s * (1 + g * (1 - s)), s = sigmoid(g).
void backward_row_from(float* dg, float* du, const float* dh, const float* g, const float* u, int i,
                       int ff) {
  const __m256 one = _mm256_set1_ps(1.0f);
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

MASQUE_AVX512 void backward_row_512(float* dg, float* du, const float* dh, const float* g,
                                    const float* u, int ff) {
  const __m512 one = _mm512_set1_ps(1.0f);
  int i = 0;
  for (; i + 16 <= ff; i += 16) {
    const __m512 vg = _mm512_loadu_ps(g + i);
    const __m512 vu = _mm512_loadu_ps(u + i);
    const __m512 vd = _mm512_loadu_ps(dh + i);
    const __m512 s = sigmoid512(vg);
    const __m512 silu = _mm512_mul_ps(vg, s);
    const __m512 dsilu = _mm512_mul_ps(s, _mm512_fmadd_ps(vg, _mm512_sub_ps(one, s), one));
    _mm512_storeu_ps(dg + i, _mm512_mul_ps(_mm512_mul_ps(vd, vu), dsilu));
    _mm512_storeu_ps(du + i, _mm512_mul_ps(vd, silu));
  }
  backward_row_from(dg, du, dh, g, u, i, ff);
}

}  // namespace

void swiglu_forward(float* out, const float* gate_up, int rows, int ff, CpuIsa isa) {
  const bool avx512 = resolve_isa(isa) == CpuIsa::kAvx512;
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * ff >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* g = gate_up + static_cast<std::size_t>(row) * 2 * ff;
    const float* u = g + ff;
    float* h = out + static_cast<std::size_t>(row) * ff;
    if (avx512) {
      forward_row_512(h, g, u, ff);
    } else {
      forward_row_from(h, g, u, 0, ff);
    }
  }
}

void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows, int ff,
                     CpuIsa isa) {
  const bool avx512 = resolve_isa(isa) == CpuIsa::kAvx512;
#pragma omp parallel for schedule(static) if (static_cast <long>(rows) * ff >= kParallelMinWork)
  for (int row = 0; row < rows; ++row) {
    const float* g = gate_up + static_cast<std::size_t>(row) * 2 * ff;
    const float* u = g + ff;
    const float* dh = dout + static_cast<std::size_t>(row) * ff;
    float* dg = dgate_up + static_cast<std::size_t>(row) * 2 * ff;
    if (avx512) {
      backward_row_512(dg, dg + ff, dh, g, u, ff);
    } else {
      backward_row_from(dg, dg + ff, dh, g, u, 0, ff);
    }
  }
}

}  // namespace masque::cpu
