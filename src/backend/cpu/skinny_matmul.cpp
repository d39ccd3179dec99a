// Skinny linear-layer kernels (see skinny_matmul.h). Each micro-kernel keeps
// an R x 4 tile of dot products (R rows of the input, 4 rows of the weight)
// in vector registers while it walks the shared `in` dimension, then folds
// the four accumulators of a row into one 4-float store with a transposing
// reduction (cheaper than four horizontal sums). The AVX-512 tile is 6 x 4
// (24 of 32 zmm registers), the AVX2 tile 3 x 4 (12 of 16 ymm).
#include "backend/cpu/skinny_matmul.h"

#include <omp.h>

#include <cstddef>

#include "backend/cpu/dot_reduce.h"
#include "backend/cpu/intrinsics.h"
#include "backend/cpu/tile_table.h"
#include "core/threads.h"

namespace masque::cpu {

namespace {

constexpr int kCols = 4;  // weight rows per tile

struct Problem {
  float* out;
  const float* inp;
  const float* weight;
  int rows, in, out_dim;
  float beta;
};

// ---- AVX-512 ------------------------------------------------------------

#define MASQUE_AVX512 __attribute__((target("avx512f,avx512dq")))

// Rows [r, r+R) x weight rows [n, n+N), N <= 4.
// With `prefetch`, the tile also prefetches the next tile's weight rows (the
// next 4 rows of W, contiguous after these) at the same pace, so the first
// row block of the next tile does not wait on L3; later row blocks reuse the
// weight rows from L1 and pass false.
template <int R, int N>
MASQUE_AVX512 void tile_512(const Problem& p, int r, int n, bool prefetch) {
  __m512 acc[R][N];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < N; ++j) acc[i][j] = _mm512_setzero_ps();
  const std::size_t in = static_cast<std::size_t>(p.in);
  const float* a = p.inp + static_cast<std::size_t>(r) * in;
  const float* w = p.weight + static_cast<std::size_t>(n) * in;
  int k = 0;
  const float* next = w + kCols * in;  // only prefetched when a next tile exists
  for (; k + 16 <= p.in; k += 16) {
    if (prefetch) {
      for (int j = 0; j < kCols; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(next + j * in + k), _MM_HINT_T0);
    }
    __m512 av[R];
    for (int i = 0; i < R; ++i) av[i] = _mm512_loadu_ps(a + i * in + k);
    for (int j = 0; j < N; ++j) {
      const __m512 wv = _mm512_loadu_ps(w + j * in + k);
      for (int i = 0; i < R; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], wv, acc[i][j]);
    }
  }
  if (k < p.in) {
    const __mmask16 m = static_cast<__mmask16>((1u << (p.in - k)) - 1u);
    __m512 av[R];
    for (int i = 0; i < R; ++i) av[i] = _mm512_maskz_loadu_ps(m, a + i * in + k);
    for (int j = 0; j < N; ++j) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + j * in + k);
      for (int i = 0; i < R; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i) {
    float* o = p.out + static_cast<std::size_t>(r + i) * p.out_dim + n;
    alignas(16) float s[kCols];
    if constexpr (N == kCols) {
      _mm_store_ps(s, reduce4_512(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    } else {
      for (int j = 0; j < N; ++j) s[j] = _mm512_reduce_add_ps(acc[i][j]);
    }
    store_dot_sums(o, s, N, p.beta);
  }
}

// ---- AVX2 ---------------------------------------------------------------

template <int R, int N>
void tile_256(const Problem& p, int r, int n, bool /*prefetch*/) {
  __m256 acc[R][N];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < N; ++j) acc[i][j] = _mm256_setzero_ps();
  const std::size_t in = static_cast<std::size_t>(p.in);
  const float* a = p.inp + static_cast<std::size_t>(r) * in;
  const float* w = p.weight + static_cast<std::size_t>(n) * in;
  int k = 0;
  for (; k + 8 <= p.in; k += 8) {
    __m256 av[R];
    for (int i = 0; i < R; ++i) av[i] = _mm256_loadu_ps(a + i * in + k);
    for (int j = 0; j < N; ++j) {
      const __m256 wv = _mm256_loadu_ps(w + j * in + k);
      for (int i = 0; i < R; ++i) acc[i][j] = _mm256_fmadd_ps(av[i], wv, acc[i][j]);
    }
  }
  if (k < p.in) {
    alignas(32) int lanes[8];
    for (int t = 0; t < 8; ++t) lanes[t] = t < p.in - k ? -1 : 0;
    const __m256i m = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
    __m256 av[R];
    for (int i = 0; i < R; ++i) av[i] = _mm256_maskload_ps(a + i * in + k, m);
    for (int j = 0; j < N; ++j) {
      const __m256 wv = _mm256_maskload_ps(w + j * in + k, m);
      for (int i = 0; i < R; ++i) acc[i][j] = _mm256_fmadd_ps(av[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i) {
    float* o = p.out + static_cast<std::size_t>(r + i) * p.out_dim + n;
    alignas(16) float s[kCols];
    if constexpr (N == kCols) {
      _mm_store_ps(s, reduce4_256(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    } else {
      for (int j = 0; j < N; ++j) {
        const __m128 h =
            _mm_add_ps(_mm256_castps256_ps128(acc[i][j]), _mm256_extractf128_ps(acc[i][j], 1));
        const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
        s[j] = _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
      }
    }
    store_dot_sums(o, s, N, p.beta);
  }
}

// ---- dispatch -------------------------------------------------------------

template <int R, int N>
struct Tile512 {
  static void run(const Problem& p, int r, int n, bool pf) { tile_512<R, N>(p, r, n, pf); }
};
template <int R, int N>
struct Tile256 {
  static void run(const Problem& p, int r, int n, bool pf) { tile_256<R, N>(p, r, n, pf); }
};

constexpr int kRows512 = 6;
constexpr int kRows256 = 3;

template <int MaxR, template <int, int> class Tile>
void run_all(const Problem& p) {
  static constexpr TileTable<Problem, kCols, Tile, MaxR> table;
  const int col_blocks = (p.out_dim + kCols - 1) / kCols;
  // Work per column block ~ rows * in; below ~64k multiply-adds per thread the
  // fork/join costs more than it saves.
  const long long work = static_cast<long long>(p.rows) * p.in * p.out_dim;
  const int threads = omp_in_parallel() ? 1 : num_threads();
#pragma omp parallel for schedule(static) \
    num_threads(threads) if (threads > 1 && work >= 65536LL * threads)
  for (int cb = 0; cb < col_blocks; ++cb) {
    const int n = cb * kCols;
    const int nc = p.out_dim - n < kCols ? p.out_dim - n : kCols;
    // Rows inner: the tile's four weight rows stay in L1 across row blocks.
    for (int r = 0; r < p.rows; r += MaxR) {
      const int rc = p.rows - r < MaxR ? p.rows - r : MaxR;
      table.fn[rc - 1][nc - 1](p, r, n, r == 0 && n + 2 * kCols <= p.out_dim);
    }
  }
}

}  // namespace

void skinny_matmul(float* out, const float* inp, const float* weight, int rows, int in, int out_dim,
                   float beta, CpuIsa isa) {
  if (rows <= 0 || out_dim <= 0) return;
  const Problem p{out, inp, weight, rows, in, out_dim, beta};
  if (resolve_isa(isa) == CpuIsa::kAvx512) {
    run_all<kRows512, Tile512>(p);
  } else {
    run_all<kRows256, Tile256>(p);
  }
}

}  // namespace masque::cpu
