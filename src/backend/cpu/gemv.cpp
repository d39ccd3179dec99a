// One-row linear layer kernels (see gemv.h). A block of 8 weight rows keeps
// one accumulator per row (8 independent FMA chains hide the FMA latency,
// where the skinny kernels' 1 x 4 tile at one row cannot), loads each x vector
// once per block step, and prefetches the next block's rows at the same pace
// (one cache line per row per step), so the next block does not wait on L3.
#include "backend/cpu/gemv.h"

#include <omp.h>

#include <cstddef>

#include "backend/cpu/dot_reduce.h"
#include "backend/cpu/intrinsics.h"
#include "core/threads.h"

namespace masque::cpu {

namespace {

constexpr int kGemvBlock = 8;  // weight rows per block

struct GemvProblem {
  float* out;
  const float* x;
  const float* weight;
  int in, out_dim;
  float beta;
};

// ---- AVX-512 ------------------------------------------------------------

#define MASQUE_GEMV_AVX512 __attribute__((target("avx512f,avx512dq")))

// Weight rows [n, n+N), N <= 8.
template <int N>
MASQUE_GEMV_AVX512 void gemv_block_512(const GemvProblem& p, int n) {
  __m512 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm512_setzero_ps();
  const std::size_t in = static_cast<std::size_t>(p.in);
  const float* w = p.weight + static_cast<std::size_t>(n) * in;
  const float* next = w + kGemvBlock * in;
  const bool prefetch = n + 2 * kGemvBlock <= p.out_dim;  // a full next block exists
  int k = 0;
  for (; k + 16 <= p.in; k += 16) {
    if (prefetch) {
      for (int j = 0; j < kGemvBlock; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(next + j * in + k), _MM_HINT_T0);
    }
    const __m512 xv = _mm512_loadu_ps(p.x + k);
    for (int j = 0; j < N; ++j)
      acc[j] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w + j * in + k), acc[j]);
  }
  if (k < p.in) {
    const __mmask16 m = static_cast<__mmask16>((1u << (p.in - k)) - 1u);
    const __m512 xv = _mm512_maskz_loadu_ps(m, p.x + k);
    for (int j = 0; j < N; ++j)
      acc[j] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, w + j * in + k), acc[j]);
  }
  alignas(16) float s[kGemvBlock];
  if constexpr (N == kGemvBlock) {
    _mm_store_ps(s, reduce4_512(acc[0], acc[1], acc[2], acc[3]));
    _mm_store_ps(s + 4, reduce4_512(acc[4], acc[5], acc[6], acc[7]));
  } else {
    for (int j = 0; j < N; ++j) s[j] = _mm512_reduce_add_ps(acc[j]);
  }
  store_dot_sums(p.out + n, s, N, p.beta);
}

// ---- AVX2 ---------------------------------------------------------------

inline float gemv_hsum_256(__m256 a) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

template <int N>
void gemv_block_256(const GemvProblem& p, int n) {
  __m256 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
  const std::size_t in = static_cast<std::size_t>(p.in);
  const float* w = p.weight + static_cast<std::size_t>(n) * in;
  int k = 0;
  for (; k + 8 <= p.in; k += 8) {
    const __m256 xv = _mm256_loadu_ps(p.x + k);
    for (int j = 0; j < N; ++j)
      acc[j] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + j * in + k), acc[j]);
  }
  if (k < p.in) {
    alignas(32) int lanes[8];
    for (int t = 0; t < 8; ++t) lanes[t] = t < p.in - k ? -1 : 0;
    const __m256i m = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
    const __m256 xv = _mm256_maskload_ps(p.x + k, m);
    for (int j = 0; j < N; ++j)
      acc[j] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(w + j * in + k, m), acc[j]);
  }
  alignas(16) float s[kGemvBlock];
  if constexpr (N == kGemvBlock) {
    _mm_store_ps(s, reduce4_256(acc[0], acc[1], acc[2], acc[3]));
    _mm_store_ps(s + 4, reduce4_256(acc[4], acc[5], acc[6], acc[7]));
  } else {
    for (int j = 0; j < N; ++j) s[j] = gemv_hsum_256(acc[j]);
  }
  store_dot_sums(p.out + n, s, N, p.beta);
}

// ---- dispatch -------------------------------------------------------------

using GemvBlockFn = void (*)(const GemvProblem&, int);

template <template <int> class Block>
constexpr GemvBlockFn gemv_block_fn(int n) {
  switch (n) {
    case 1:
      return &Block<1>::run;
    case 2:
      return &Block<2>::run;
    case 3:
      return &Block<3>::run;
    case 4:
      return &Block<4>::run;
    case 5:
      return &Block<5>::run;
    case 6:
      return &Block<6>::run;
    case 7:
      return &Block<7>::run;
    default:
      return &Block<8>::run;
  }
}

template <int N>
struct GemvBlock512 {
  static void run(const GemvProblem& p, int n) { gemv_block_512<N>(p, n); }
};
template <int N>
struct GemvBlock256 {
  static void run(const GemvProblem& p, int n) { gemv_block_256<N>(p, n); }
};

template <template <int> class Block>
void gemv_all(const GemvProblem& p) {
  const int blocks = (p.out_dim + kGemvBlock - 1) / kGemvBlock;
  // The same threshold as the skinny kernels: below ~64k multiply-adds per
  // thread the fork/join costs more than it saves.
  const long long work = static_cast<long long>(p.in) * p.out_dim;
  const int threads = omp_in_parallel() ? 1 : num_threads();
#pragma omp parallel for schedule(static) \
    num_threads(threads) if (threads > 1 && work >= 65536LL * threads)
  for (int b = 0; b < blocks; ++b) {
    const int n = b * kGemvBlock;
    const int nc = p.out_dim - n < kGemvBlock ? p.out_dim - n : kGemvBlock;
    gemv_block_fn<Block>(nc)(p, n);
  }
}

}  // namespace

void gemv(float* out, const float* x, const float* weight, int in, int out_dim, float beta,
          CpuIsa isa) {
  if (out_dim <= 0) return;
  const GemvProblem p{out, x, weight, in, out_dim, beta};
  if (resolve_isa(isa) == CpuIsa::kAvx512) {
    gemv_all<GemvBlock512>(p);
  } else {
    gemv_all<GemvBlock256>(p);
  }
}

}  // namespace masque::cpu
