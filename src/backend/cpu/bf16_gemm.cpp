// bf16 GEMM (see bf16_gemm.h).
//
// Layouts. Both operands are packed per K block of kKc into 1 KiB blocks of
// 32 k values, the shapes AMX tiles load directly:
//   A role, op(A) [m, k]: per strip of 16 rows, [16 rows][32 k] bf16;
//   B role, op(B) [k, n]: per strip of 16 columns, [16 k pairs][16 cols][2]
//   bf16 (the VNNI pairs TDPBF16PS and VDPBF16PS multiply).
// Rows, columns and k past the matrix are packed as zeros, so the kernels
// never see a partial tile and the edges cost only the merge into C.
// Packing reads whichever way the source is contiguous: k-contiguous rows
// convert 32 values at a time; the other way two k rows are converted and
// interleaved into pairs; a 16x16 transpose of 32-bit pairs gives the other
// layout where needed (forward's B = weight^T, dweight's A = dout^T).
//
// Blocking: all of op(B) is packed once (shared, in parallel, K block by K
// block); then threads take blocks of kMc rows of op(A) and, K block by K
// block, pack them into their own buffer (L2-sized) and run the 32x32
// macro-kernel over every column strip pair. The first K block writes
// C = alpha acc + beta C, later ones add alpha acc: a fixed order,
// independent of the thread count.
#include "backend/cpu/bf16_gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/bf16_convert.h"
#include "backend/cpu/intrinsics.h"
#include "core/error.h"
#include "core/threads.h"

namespace masque::cpu {

namespace {

#define MASQUE_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define MASQUE_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

constexpr int kStrip = 16;               // rows (A) or columns (B) per packed strip
constexpr int kKStep = 32;               // k per packed block
constexpr int kBlock = kStrip * kKStep;  // bf16 values per packed block (1 KiB)
constexpr int kMacro = 32;               // the macro-kernel's C tile is kMacro x kMacro
constexpr int kKc = 512;                 // k per K block
constexpr int kMc = 128;                 // rows of op(A) per thread work item

// A 64-byte-aligned growable bf16 buffer (one per thread, kept between calls
// so a training loop allocates nothing after its first step).
class PackBuffer {
 public:
  ~PackBuffer() { std::free(data_); }
  bf16* get(std::size_t count) {
    if (count > capacity_) {
      std::free(data_);
      const std::size_t bytes = (count * sizeof(bf16) + 63) / 64 * 64;
      data_ = static_cast<bf16*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) throw std::bad_alloc();
      capacity_ = count;
    }
    return data_;
  }

 private:
  bf16* data_ = nullptr;
  std::size_t capacity_ = 0;
};

PackBuffer& a_buffer() {
  thread_local PackBuffer buffer;
  return buffer;
}
PackBuffer& b_buffer() {
  thread_local PackBuffer buffer;
  return buffer;
}

MASQUE_BF16 inline __mmask16 lane_mask(int count) {
  return count >= 16 ? static_cast<__mmask16>(0xffff)
                     : static_cast<__mmask16>(count <= 0 ? 0 : (1u << count) - 1u);
}

// 16x16 transpose of 32-bit values (each one bf16 pair) in place.
MASQUE_BF16 void transpose16(__m512i r[16]) {
  __m512i u[16], v[16];
  for (int i = 0; i < 8; ++i) {
    u[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    u[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // v[4i + e]: element e of each 128-bit lane, rows 4i..4i+3.
  for (int i = 0; i < 4; ++i) {
    v[4 * i] = _mm512_unpacklo_epi64(u[4 * i], u[4 * i + 2]);
    v[4 * i + 1] = _mm512_unpackhi_epi64(u[4 * i], u[4 * i + 2]);
    v[4 * i + 2] = _mm512_unpacklo_epi64(u[4 * i + 1], u[4 * i + 3]);
    v[4 * i + 3] = _mm512_unpackhi_epi64(u[4 * i + 1], u[4 * i + 3]);
  }
  for (int e = 0; e < 4; ++e) {
    const __m512i w0 = _mm512_shuffle_i32x4(v[e], v[4 + e], 0x44);
    const __m512i w1 = _mm512_shuffle_i32x4(v[8 + e], v[12 + e], 0x44);
    const __m512i w2 = _mm512_shuffle_i32x4(v[e], v[4 + e], 0xee);
    const __m512i w3 = _mm512_shuffle_i32x4(v[8 + e], v[12 + e], 0xee);
    r[e] = _mm512_shuffle_i32x4(w0, w1, 0x88);
    r[4 + e] = _mm512_shuffle_i32x4(w0, w1, 0xdd);
    r[8 + e] = _mm512_shuffle_i32x4(w2, w3, 0x88);
    r[12 + e] = _mm512_shuffle_i32x4(w2, w3, 0xdd);
  }
}

// src: `lines` (<= 16) lines of stride ld, each with `count` (<= 32)
// contiguous values. r[l] = line l's 32 values as bf16 (16 pairs); zeros past
// the edges.
MASQUE_BF16 void load_lines(__m512i r[16], const float* src, std::size_t ld, int lines, int count) {
  const __mmask16 lo = lane_mask(count), hi = lane_mask(count - 16);
  for (int l = 0; l < 16; ++l) {
    if (l >= lines) {
      r[l] = _mm512_setzero_si512();
      continue;
    }
    const float* p = src + l * ld;
    const __m512 x0 = _mm512_maskz_loadu_ps(lo, p);
    const __m512 x1 = _mm512_maskz_loadu_ps(hi, p + 16);
    r[l] = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
  }
}

// src: `count` (<= 32) lines of stride ld (the k direction), each with
// `width` (<= 16) contiguous values. r[q] = the pairs (line 2q, line 2q+1) of
// the 16 positions across; zeros past the edges.
MASQUE_BF16 void load_pairs(__m512i r[16], const float* src, std::size_t ld, int count, int width) {
  const __mmask16 mask = lane_mask(width);
  const __m512i interleave =
      _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                       21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int q = 0; q < 16; ++q) {
    const int k0 = 2 * q;
    const __m512 x0 = k0 < count ? _mm512_maskz_loadu_ps(mask, src + k0 * ld) : _mm512_setzero_ps();
    const __m512 x1 =
        k0 + 1 < count ? _mm512_maskz_loadu_ps(mask, src + (k0 + 1) * ld) : _mm512_setzero_ps();
    r[q] = _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
  }
}

MASQUE_BF16 void store_block(bf16* dst, const __m512i r[16]) {
  for (int l = 0; l < 16; ++l) _mm512_store_si512(dst + l * 32, r[l]);
}

// One source matrix: element (row, col) of op(X) at x[row * ld + col], or at
// x[col * ld + row] when transposed.
struct Operand {
  const float* x;
  std::size_t ld;
  bool trans;
};

// A-role block: op(A) rows [i0, i0 + 16) x k [p0, p0 + 32) -> [16 rows][32 k].
MASQUE_BF16 void pack_a_block(bf16* dst, const Operand& a, int m, int k, int i0, int p0) {
  __m512i r[16];
  const int rows = std::min(kStrip, m - i0), count = std::min(kKStep, k - p0);
  if (!a.trans) {
    load_lines(r, a.x + i0 * a.ld + p0, a.ld, rows, count);
  } else {
    load_pairs(r, a.x + p0 * a.ld + i0, a.ld, count, rows);  // [pair][row]
    transpose16(r);                                          // [row][pair]
  }
  store_block(dst, r);
}

// B-role block: op(B) k [p0, p0 + 32) x cols [j0, j0 + 16) -> [16 pairs][16 cols][2].
MASQUE_BF16 void pack_b_block(bf16* dst, const Operand& b, int n, int k, int j0, int p0) {
  __m512i r[16];
  const int cols = std::min(kStrip, n - j0), count = std::min(kKStep, k - p0);
  if (!b.trans) {
    load_pairs(r, b.x + p0 * b.ld + j0, b.ld, count, cols);
  } else {
    load_lines(r, b.x + j0 * b.ld + p0, b.ld, cols, count);  // [col][pair]
    transpose16(r);                                          // [pair][col]
  }
  store_block(dst, r);
}

// C16 [16][ldc] = A strip (16 rows) x B strip (16 cols) over `ksteps` blocks.
MASQUE_BF16 void kernel16_avx512(const bf16* a, const bf16* b, int ksteps, float* c, int ldc) {
  __m512 acc[16];
  for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
  for (int t = 0; t < ksteps; ++t) {
    const bf16* at = a + static_cast<std::size_t>(t) * kBlock;
    const bf16* bt = b + static_cast<std::size_t>(t) * kBlock;
    for (int q = 0; q < 16; ++q) {
      const __m512bh bv = (__m512bh)_mm512_load_si512(bt + q * 32);
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        std::int32_t pair;
        std::memcpy(&pair, at + r * 32 + 2 * q, sizeof pair);
        acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_set1_epi32(pair), bv);
      }
    }
  }
  for (int r = 0; r < 16; ++r) _mm512_storeu_ps(c + r * ldc, acc[r]);
}

// C [32][32] from two A strips and two B strips (AVX512_BF16).
MASQUE_BF16 void macro_avx512(const bf16* a0, const bf16* a1, const bf16* b0, const bf16* b1,
                              int ksteps, float* c) {
  kernel16_avx512(a0, b0, ksteps, c, kMacro);
  kernel16_avx512(a0, b1, ksteps, c + 16, kMacro);
  kernel16_avx512(a1, b0, ksteps, c + 16 * kMacro, kMacro);
  kernel16_avx512(a1, b1, ksteps, c + 16 * kMacro + 16, kMacro);
}

// AMX palette 1: tiles 0-3 are C (16x16 float32), 4-5 A, 6-7 B; all 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

MASQUE_AMX void amx_begin() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  // Inline asm rather than _tile_loadconfig: GCC 12 does not see that the
  // builtin reads the struct and drops the stores that fill it.
  __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

MASQUE_AMX void amx_end() { _tile_release(); }

MASQUE_AMX void macro_amx(const bf16* a0, const bf16* a1, const bf16* b0, const bf16* b1,
                          int ksteps, float* c) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int t = 0; t < ksteps; ++t) {
    const std::size_t off = static_cast<std::size_t>(t) * kBlock;
    _tile_loadd(4, a0 + off, 64);
    _tile_loadd(5, a1 + off, 64);
    _tile_loadd(6, b0 + off, 64);
    _tile_loadd(7, b1 + off, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, kMacro * 4);
  _tile_stored(1, c + 16, kMacro * 4);
  _tile_stored(2, c + 16 * kMacro, kMacro * 4);
  _tile_stored(3, c + 16 * kMacro + 16, kMacro * 4);
}

// C[i0.., j0..] (= alpha tile + beta C) or (+= alpha tile), clipped to m x n.
MASQUE_BF16 void merge(float* c, std::size_t ldc, const float* tile, int rows, int cols,
                       float alpha, float beta, bool first) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < rows; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < cols; j += 16) {
      const __mmask16 mask = lane_mask(cols - j);
      const __m512 t = _mm512_mul_ps(va, _mm512_load_ps(tile + r * kMacro + j));
      __m512 out;
      if (first && beta == 0.0f) {
        out = t;
      } else if (first) {
        out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cr + j), t);
      } else {
        out = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, cr + j), t);
      }
      _mm512_mask_storeu_ps(cr + j, mask, out);
    }
  }
}

struct Problem {
  Operand a, b;
  int m, n, k;
  float alpha, beta;
  float* c;
  std::size_t ldc;
  bool amx;
};

// The whole product on the calling thread's team (see the file comment).
// One barrier per call (after packing op(B)): on a busy machine each barrier
// can wait a whole scheduler slice for a descheduled thread.
MASQUE_BF16 void run_team(const Problem& p, bf16* packed_b, int n_strips) {
  const int m_blocks = (p.m + kMc - 1) / kMc;
  const int k_blocks = (p.k + kKc - 1) / kKc;
  const int max_ksteps = (std::min(p.k, kKc) + kKStep - 1) / kKStep;
  // op(B) K block kb starts at kb * b_block; strip s of it at s * strip_size.
  const std::size_t b_block = static_cast<std::size_t>(n_strips) * max_ksteps * kBlock;
  auto ksteps_of = [&](int kb) { return (std::min(kKc, p.k - kb * kKc) + kKStep - 1) / kKStep; };
#pragma omp for schedule(static)
  for (int s = 0; s < n_strips; ++s) {
    for (int kb = 0; kb < k_blocks; ++kb) {
      const int ksteps = ksteps_of(kb);
      bf16* dst = packed_b + kb * b_block + s * static_cast<std::size_t>(ksteps) * kBlock;
      for (int t = 0; t < ksteps; ++t) {
        pack_b_block(dst + t * kBlock, p.b, p.n, p.k, s * kStrip, kb * kKc + t * kKStep);
      }
    }
  }
  if (p.amx) amx_begin();
  alignas(64) float tile[kMacro * kMacro];
  bf16* packed_a = a_buffer().get(static_cast<std::size_t>(kMc / kStrip) * max_ksteps * kBlock);
#pragma omp for schedule(dynamic) nowait
  for (int mb = 0; mb < m_blocks; ++mb) {
    const int i_begin = mb * kMc;
    const int rows = std::min(kMc, p.m - i_begin);
    const int a_strips = (rows + kMacro - 1) / kMacro * 2;
    for (int kb = 0; kb < k_blocks; ++kb) {
      const int ksteps = ksteps_of(kb);
      const std::size_t strip_size = static_cast<std::size_t>(ksteps) * kBlock;
      for (int s = 0; s < a_strips; ++s) {
        for (int t = 0; t < ksteps; ++t) {
          pack_a_block(packed_a + s * strip_size + t * kBlock, p.a, p.m, p.k, i_begin + s * kStrip,
                       kb * kKc + t * kKStep);
        }
      }
      // Column strips outer: one B strip pair stays in L1/L2 across the rows.
      for (int j = 0; j < p.n; j += kMacro) {
        const bf16* b0 = packed_b + kb * b_block + (j / kStrip) * strip_size;
        for (int i = 0; i < rows; i += kMacro) {
          const bf16* a0 = packed_a + (i / kStrip) * strip_size;
          if (p.amx) {
            macro_amx(a0, a0 + strip_size, b0, b0 + strip_size, ksteps, tile);
          } else {
            macro_avx512(a0, a0 + strip_size, b0, b0 + strip_size, ksteps, tile);
          }
          merge(p.c + (i_begin + i) * p.ldc + j, p.ldc, tile, std::min(kMacro, rows - i),
                std::min(kMacro, p.n - j), p.alpha, p.beta, kb == 0);
        }
      }
    }
  }
  if (p.amx) amx_end();
}

void scale_c(float* c, std::size_t ldc, int m, int n, float beta) {
  for (int i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::fill_n(row, n, 0.0f);
    } else {
      for (int j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

}  // namespace

Bf16Kernel resolve_bf16_kernel(Bf16Kernel kernel) {
  if (!cpu_has_avx512_bf16()) {
    throw InputError(
        "bfloat16 training needs a CPU with AVX512_BF16 (the avx512_bf16 flag in /proc/cpuinfo: "
        "Intel Cooper Lake / Sapphire Rapids or later, AMD Zen 4 or later), which this CPU lacks; "
        "use --dtype f32");
  }
  if (kernel == Bf16Kernel::kAuto)
    return cpu_has_amx_bf16() ? Bf16Kernel::kAmx : Bf16Kernel::kAvx512;
  if (kernel == Bf16Kernel::kAmx && !cpu_has_amx_bf16()) {
    throw InputError(
        "the AMX bf16 kernel needs AMX-BF16 and the kernel's permission for AMX tile state "
        "(arch_prctl ARCH_REQ_XCOMP_PERM), which this process lacks");
  }
  return kernel;
}

const char* bf16_kernel_name(Bf16Kernel kernel) {
  switch (kernel) {
    case Bf16Kernel::kAmx:
      return "amx";
    case Bf16Kernel::kAvx512:
      return "avx512_bf16";
    case Bf16Kernel::kAuto:
      break;
  }
  return "auto";
}

void bf16_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
               int lda, const float* b, int ldb, float beta, float* c, int ldc, Bf16Kernel kernel) {
  const Bf16Kernel chosen = resolve_bf16_kernel(kernel);
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(c, static_cast<std::size_t>(ldc), m, n, beta);
    return;
  }
  const Problem p{{a, static_cast<std::size_t>(lda), trans_a},
                  {b, static_cast<std::size_t>(ldb), trans_b},
                  m,
                  n,
                  k,
                  alpha,
                  beta,
                  c,
                  static_cast<std::size_t>(ldc),
                  chosen == Bf16Kernel::kAmx};
  // Whole strip pairs: the macro-kernel always reads two strips of each.
  const int n_strips = (n + kMacro - 1) / kMacro * 2;
  const int ksteps = (std::min(k, kKc) + kKStep - 1) / kKStep;
  const int k_blocks = (k + kKc - 1) / kKc;
  bf16* packed_b = b_buffer().get(static_cast<std::size_t>(k_blocks) * n_strips * ksteps * kBlock);
  // Below ~4M multiply-adds (a few microseconds) a fork/join costs more than it saves.
  const long long work = static_cast<long long>(m) * n * k;
  const int threads = omp_in_parallel() ? 1 : num_threads();
#pragma omp parallel num_threads(threads) if (threads > 1 && work >= (1LL << 22))
  run_team(p, packed_b, n_strips);
}

void bf16_matmul_forward(float* out, const float* inp, const float* weight, int rows, int in,
                         int out_dim, bool accumulate) {
  bf16_gemm(false, true, rows, out_dim, in, 1.0f, inp, in, weight, in, accumulate ? 1.0f : 0.0f,
            out, out_dim);
}

void bf16_matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                          const float* weight, int rows, int in, int out_dim) {
  if (dinp != nullptr) {
    bf16_gemm(false, false, rows, in, out_dim, 1.0f, dout, out_dim, weight, in, 0.0f, dinp, in);
  }
  if (dweight != nullptr) {
    bf16_gemm(true, false, out_dim, in, rows, 1.0f, dout, out_dim, inp, in, 1.0f, dweight, in);
  }
}

}  // namespace masque::cpu
