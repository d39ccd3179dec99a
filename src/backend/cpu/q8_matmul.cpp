// Q8_0 linear-layer kernels and conversions (see q8_matmul.h). Like the
// skinny float32 kernels, a micro-kernel keeps an R x 4 tile of dot products
// (R input rows, 4 weight rows) in registers while it walks `in` one 32-weight
// block at a time; each weight row's block is widened to float32 once
// (sign-extend, convert, times the block's scale) and used for all R rows.
// AVX-512 tile: up to 4 x 4 (16 accumulators + 8 activation registers of 32
// zmm); AVX2: 2 x 4 of 16 ymm.
#include "backend/cpu/q8_matmul.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "backend/cpu/dot_reduce.h"
#include "backend/cpu/intrinsics.h"
#include "backend/cpu/tile_table.h"
#include "core/error.h"
#include "core/threads.h"

namespace masque::cpu {

namespace {

constexpr int kCols = 4;  // weight rows per tile
constexpr int kB = Q8Matrix::kBlock;

struct Problem {
  float* out;
  const float* inp;
  const Q8Matrix* w;
  int rows;
  float beta;
};

// ---- AVX-512 ------------------------------------------------------------

#define MASQUE_AVX512 __attribute__((target("avx512f,avx512dq")))

MASQUE_AVX512 inline __m512 widen16(const std::int8_t* q, __m512 scale) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)), scale);
}

// Rows [r, r+R) x weight rows [n, n+N), N <= 4. With `prefetch`, the tile
// also prefetches the next tile's weight rows at its own pace (one line of
// each per two blocks), so the next tile does not start on a cache miss.
template <int R, int N>
MASQUE_AVX512 void tile_512(const Problem& p, int r, int n, bool prefetch) {
  const Q8Matrix& w = *p.w;
  const std::size_t in = static_cast<std::size_t>(w.in);
  const int nb = w.blocks_per_row();
  __m512 acc[R][N];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < N; ++j) acc[i][j] = _mm512_setzero_ps();
  const float* a = p.inp + static_cast<std::size_t>(r) * in;
  const std::int8_t* q = w.q.data() + static_cast<std::size_t>(n) * in;
  const float* sc = w.scale.data() + static_cast<std::size_t>(n) * nb;
  const std::int8_t* next = q + kCols * in;
  for (int b = 0; b < nb; ++b) {
    const std::size_t k = static_cast<std::size_t>(b) * kB;
    if (prefetch && (b & 1) == 0) {
      for (int j = 0; j < kCols; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(next + j * in + k), _MM_HINT_T0);
    }
    __m512 lo[R], hi[R];
    for (int i = 0; i < R; ++i) {
      lo[i] = _mm512_loadu_ps(a + i * in + k);
      hi[i] = _mm512_loadu_ps(a + i * in + k + 16);
    }
    for (int j = 0; j < N; ++j) {
      const __m512 s = _mm512_set1_ps(sc[j * nb + b]);
      const __m512 w0 = widen16(q + j * in + k, s);
      const __m512 w1 = widen16(q + j * in + k + 16, s);
      for (int i = 0; i < R; ++i) {
        acc[i][j] = _mm512_fmadd_ps(lo[i], w0, acc[i][j]);
        acc[i][j] = _mm512_fmadd_ps(hi[i], w1, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < R; ++i) {
    float s[kCols];
    for (int j = 0; j < N; ++j) s[j] = _mm512_reduce_add_ps(acc[i][j]);
    store_dot_sums(p.out + static_cast<std::size_t>(r + i) * w.rows + n, s, N, p.beta);
  }
}

// ---- AVX2 ---------------------------------------------------------------

inline __m256 widen8(const std::int8_t* q, __m256 scale) {
  const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)), scale);
}

inline float hsum256(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

template <int R, int N>
void tile_256(const Problem& p, int r, int n, bool /*prefetch*/) {
  const Q8Matrix& w = *p.w;
  const std::size_t in = static_cast<std::size_t>(w.in);
  const int nb = w.blocks_per_row();
  __m256 acc[R][N];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < N; ++j) acc[i][j] = _mm256_setzero_ps();
  const float* a = p.inp + static_cast<std::size_t>(r) * in;
  const std::int8_t* q = w.q.data() + static_cast<std::size_t>(n) * in;
  const float* sc = w.scale.data() + static_cast<std::size_t>(n) * nb;
  for (int b = 0; b < nb; ++b) {
    const std::size_t k0 = static_cast<std::size_t>(b) * kB;
    __m256 s[N];
    for (int j = 0; j < N; ++j) s[j] = _mm256_broadcast_ss(sc + j * nb + b);
    for (std::size_t k = k0; k < k0 + kB; k += 8) {
      __m256 av[R];
      for (int i = 0; i < R; ++i) av[i] = _mm256_loadu_ps(a + i * in + k);
      for (int j = 0; j < N; ++j) {
        const __m256 wv = widen8(q + j * in + k, s[j]);
        for (int i = 0; i < R; ++i) acc[i][j] = _mm256_fmadd_ps(av[i], wv, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < R; ++i) {
    float s[kCols];
    for (int j = 0; j < N; ++j) s[j] = hsum256(acc[i][j]);
    store_dot_sums(p.out + static_cast<std::size_t>(r + i) * w.rows + n, s, N, p.beta);
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

constexpr int kRows512 = 4;
constexpr int kRows256 = 2;

template <int MaxR, template <int, int> class Tile>
void run_all(const Problem& p) {
  static constexpr TileTable<Problem, kCols, Tile, MaxR> table;
  const int out_dim = p.w->rows;
  const int col_blocks = (out_dim + kCols - 1) / kCols;
  // Below ~64k multiply-adds per thread the fork/join costs more than it saves.
  const long long work = static_cast<long long>(p.rows) * p.w->in * out_dim;
  const int threads = omp_in_parallel() ? 1 : num_threads();
#pragma omp parallel for schedule(static) \
    num_threads(threads) if (threads > 1 && work >= 65536LL * threads)
  for (int cb = 0; cb < col_blocks; ++cb) {
    const int n = cb * kCols;
    const int nc = out_dim - n < kCols ? out_dim - n : kCols;
    // Rows inner: the tile's four weight rows stay in L1 across row blocks.
    for (int r = 0; r < p.rows; r += MaxR) {
      const int rc = p.rows - r < MaxR ? p.rows - r : MaxR;
      table.fn[rc - 1][nc - 1](p, r, n, r == 0 && n + 2 * kCols <= out_dim);
    }
  }
}

void check_in(int rows, int in) {
  if (rows < 0 || in <= 0 || in % kB != 0) {
    throw Error(
        cat("a Q8_0 matrix needs rows >= 0 and a row length that is a positive multiple "
            "of 32; got ",
            rows, " x ", in, " (a bug in masque: please report it)"));
  }
}

}  // namespace

void q8_matmul(float* out, const float* inp, const Q8Matrix& w, int rows, float beta, CpuIsa isa) {
  if (rows <= 0 || w.rows <= 0) return;
  const Problem p{out, inp, &w, rows, beta};
  if (resolve_isa(isa) == CpuIsa::kAvx512) {
    run_all<kRows512, Tile512>(p);
  } else {
    run_all<kRows256, Tile256>(p);
  }
}

Q8Matrix q8_from_ggml_blocks(const std::uint8_t* blocks, int rows, int in) {
  check_in(rows, in);
  Q8Matrix m;
  m.rows = rows;
  m.in = in;
  const std::size_t nblocks = static_cast<std::size_t>(rows) * (in / kB);
  m.q.resize(nblocks * kB);
  m.scale.resize(nblocks);
  for (std::size_t b = 0; b < nblocks; ++b) {
    const std::uint8_t* block = blocks + b * (2 + kB);
    std::uint16_t half;
    std::memcpy(&half, block, 2);
    m.scale[b] = _cvtsh_ss(half);
    std::memcpy(m.q.data() + b * kB, block + 2, kB);
  }
  return m;
}

Q8Matrix q8_quantize(const float* w, int rows, int in) {
  check_in(rows, in);
  Q8Matrix m;
  m.rows = rows;
  m.in = in;
  const std::size_t nblocks = static_cast<std::size_t>(rows) * (in / kB);
  m.q.resize(nblocks * kB);
  m.scale.resize(nblocks);
  for (std::size_t b = 0; b < nblocks; ++b) {
    const float* x = w + b * kB;
    float amax = 0.0f;
    for (int i = 0; i < kB; ++i) amax = std::max(amax, std::fabs(x[i]));
    // ggml's quantize_row_q8_0_ref: q from the unrounded d, d stored as f16.
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    m.scale[b] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    for (int i = 0; i < kB; ++i) {
      m.q[b * kB + i] = static_cast<std::int8_t>(std::lround(x[i] * id));
    }
  }
  return m;
}

Q8Matrix q8_concat_rows(const std::vector<const Q8Matrix*>& parts) {
  Q8Matrix m;
  if (parts.empty()) return m;
  m.in = parts[0]->in;
  for (const Q8Matrix* p : parts) {
    if (p->in != m.in) {
      throw Error(cat("Q8_0 matrices with rows of ", p->in, " and ", m.in,
                      " weights cannot be fused (a bug in masque: please report it)"));
    }
    m.rows += p->rows;
    m.q.insert(m.q.end(), p->q.begin(), p->q.end());
    m.scale.insert(m.scale.end(), p->scale.begin(), p->scale.end());
  }
  return m;
}

std::vector<float> q8_dequantize(const Q8Matrix& w) {
  std::vector<float> out(w.q.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = w.scale[i / kB] * static_cast<float>(w.q[i]);
  }
  return out;
}

}  // namespace masque::cpu
