// Packed, blocked float32 GEMM (see gemm.h). Goto/BLIS blocking, written for
// row-major C with the micro-kernel's vectors along n:
//   for each chunk of MC rows of A and each kc-deep slice of k:
//     pack the A chunk (MR-row slivers, MR floats per k: broadcast operands)
//     for each NC-wide panel of B:
//       pack the B panel (NR-column slivers, NR floats per k: vector operands)
//       for each A sliver (MR x kc, stays in L1), for each B sliver (kc x NR,
//       streamed from the panel in L2): one MR x NR tile of C.
// Packing makes every operand contiguous whatever the transposes, so one
// kernel serves NN, NT and TN; zero padding makes edge tiles full-size
// products, and only their stores are masked. The AVX-512 kernel's packing
// is vectorized (gemm_pack_avx512.h: 15-28% of a GEMM at K = 256 when
// packed element by element); the AVX2 kernel keeps the generic loops. Each thread owns a rectangle
// of whole tiles (split along m or n, whichever balances better) and packs
// its own operands: no barriers, and each C element is summed by one thread
// in one order (k ascending in kc blocks), whatever the thread count.
#include "backend/cpu/gemm.h"

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_pack_avx512.h"
#include "core/error.h"
#include "core/threads.h"

namespace masque::cpu {

namespace {

using std::size_t;

struct Problem {
  bool trans_a, trans_b;
  int m, n, k;
  float alpha;
  const float* a;
  int lda;
  const float* b;
  int ldb;
  float beta;
  float* c;
  int ldc;
};

// ---- micro-kernels ----------------------------------------------------------
// c[mr x nr] = alpha * (a_sliver @ b_sliver) + beta * c over kc steps, where
// a holds MR floats per step and b NR floats per step. beta 0: c not read.

#define MASQUE_AVX512 __attribute__((target("avx512f,avx512dq")))

// 12 x 32: 24 accumulators, 2 B vectors and a broadcast of 32 zmm registers;
// per k step 24 FMAs against 2 vector loads and 12 broadcasts, enough
// independent chains to cover the FMA latency on both ports.
constexpr int kMr512 = 12, kNr512 = 32;

MASQUE_AVX512 void kernel_512(int kc, const float* a, const float* b, float* c, int ldc,
                              float alpha, float beta, int mr, int nr) {
  // C's rows are far (C rarely fits in L2): fetch them while the k loop runs.
  for (int i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<size_t>(i) * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<size_t>(i) * ldc + 16), _MM_HINT_T0);
  }
  __m512 acc0[kMr512], acc1[kMr512];
#pragma GCC unroll 12
  for (int i = 0; i < kMr512; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < kMr512; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMr512;
    b += kNr512;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = nr >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << nr) - 1u);
  const __mmask16 m1 = nr >= 32   ? 0xFFFF
                       : nr <= 16 ? 0
                                  : static_cast<__mmask16>((1u << (nr - 16)) - 1u);
#pragma GCC unroll 12
  for (int i = 0; i < kMr512; ++i) {
    if (i >= mr) break;
    float* row = c + static_cast<size_t>(i) * ldc;
    __m512 v0 = _mm512_mul_ps(va, acc0[i]), v1 = _mm512_mul_ps(va, acc1[i]);
    if (beta != 0.0f) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), v1);
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

// 6 x 16: 12 accumulators, 2 B vectors and a broadcast of 16 ymm registers
// (the BLIS/OpenBLAS Haswell shape).
constexpr int kMr256 = 6, kNr256 = 16;

void kernel_256(int kc, const float* a, const float* b, float* c, int ldc, float alpha, float beta,
                int mr, int nr) {
  for (int i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<size_t>(i) * ldc), _MM_HINT_T0);
  }
  __m256 acc0[kMr256], acc1[kMr256];
#pragma GCC unroll 6
  for (int i = 0; i < kMr256; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr256; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMr256;
    b += kNr256;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  // Unrolled with constant indices, so the accumulators stay in registers
  // (a runtime index into acc would keep them in memory inside the k loop).
#pragma GCC unroll 6
  for (int i = 0; i < kMr256; ++i) {
    if (i >= mr) break;
    float* row = c + static_cast<size_t>(i) * ldc;
    __m256 v0 = _mm256_mul_ps(va, acc0[i]), v1 = _mm256_mul_ps(va, acc1[i]);
    if (nr == kNr256) {
      if (beta != 0.0f) {
        v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), v0);
        v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), v1);
      }
      _mm256_storeu_ps(row, v0);
      _mm256_storeu_ps(row + 8, v1);
    } else {
      alignas(32) float tile[kNr256];
      _mm256_store_ps(tile, v0);
      _mm256_store_ps(tile + 8, v1);
      for (int j = 0; j < nr; ++j) row[j] = beta == 0.0f ? tile[j] : tile[j] + beta * row[j];
    }
  }
}

// ---- packing ----------------------------------------------------------------

// Rows [i0, i0 + rows) x k [p0, p0 + kc) of op(A) into MR-row slivers: sliver
// s at dst + s * MR * kc, element (i, p) at [p * MR + i]; rows past the edge 0.
template <int MR>
void pack_a(float* dst, const Problem& pr, int i0, int rows, int p0, int kc) {
  for (int s = 0; s < rows; s += MR) {
    const int r = std::min(MR, rows - s);
    float* d = dst + static_cast<size_t>(s) * kc;
    if (pr.trans_a) {  // A stored [k, m]: MR contiguous floats per k
      for (int p = 0; p < kc; ++p) {
        const float* src = pr.a + static_cast<size_t>(p0 + p) * pr.lda + i0 + s;
        float* dp = d + static_cast<size_t>(p) * MR;
        if (r == MR) {
          for (int i = 0; i < MR; ++i) dp[i] = src[i];
        } else {
          for (int i = 0; i < MR; ++i) dp[i] = i < r ? src[i] : 0.0f;
        }
      }
    } else {  // A stored [m, k]: MR rows read side by side, 8 k at a time
      const float* src[MR];
      for (int i = 0; i < MR; ++i) {
        src[i] = pr.a + static_cast<size_t>(i0 + s + std::min(i, r - 1)) * pr.lda + p0;
      }
      int p = 0;
      for (; p + 8 <= kc; p += 8) {
        float* dp = d + static_cast<size_t>(p) * MR;
        for (int i = 0; i < MR; ++i) {
          for (int q = 0; q < 8; ++q) dp[q * MR + i] = i < r ? src[i][p + q] : 0.0f;
        }
      }
      for (; p < kc; ++p) {
        for (int i = 0; i < MR; ++i) d[static_cast<size_t>(p) * MR + i] = i < r ? src[i][p] : 0.0f;
      }
    }
  }
}

// Columns [j0, j0 + cols) x k [p0, p0 + kc) of op(B) into NR-column slivers:
// sliver s at dst + s * NR * kc, element (p, j) at [p * NR + j]; padded with 0.
template <int NR>
void pack_b(float* dst, const Problem& pr, int j0, int cols, int p0, int kc) {
  for (int s = 0; s < cols; s += NR) {
    const int w = std::min(NR, cols - s);
    float* d = dst + static_cast<size_t>(s) * kc;
    if (!pr.trans_b) {  // B stored [k, n]: NR contiguous floats per k
      for (int p = 0; p < kc; ++p) {
        const float* src = pr.b + static_cast<size_t>(p0 + p) * pr.ldb + j0 + s;
        float* dp = d + static_cast<size_t>(p) * NR;
        if (w == NR) {
          for (int j = 0; j < NR; ++j) dp[j] = src[j];
        } else {
          for (int j = 0; j < NR; ++j) dp[j] = j < w ? src[j] : 0.0f;
        }
      }
    } else {  // B stored [n, k] (a weight [out, in]): columns are rows of b
      for (int j = 0; j < NR; ++j) {
        if (j >= w) {
          for (int p = 0; p < kc; ++p) d[static_cast<size_t>(p) * NR + j] = 0.0f;
          continue;
        }
        const float* src = pr.b + static_cast<size_t>(j0 + s + j) * pr.ldb + p0;
        for (int p = 0; p < kc; ++p) d[static_cast<size_t>(p) * NR + j] = src[p];
      }
    }
  }
}

// ---- driver -----------------------------------------------------------------

struct FreeDeleter {
  void operator()(float* p) const noexcept { std::free(p); }
};

// This thread's packing buffer `which` (0: A, 1: B), at least `floats` long.
// Thread-local so OpenMP workers (and callers inside parallel regions, as the
// attention kernels) each reuse their own, without allocating per call.
float* thread_buffer(int which, size_t floats) {
  thread_local std::unique_ptr<float, FreeDeleter> buffers[2];
  thread_local size_t capacity[2] = {0, 0};
  if (capacity[which] < floats) {
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (p == nullptr) throw Error("out of memory for GEMM packing buffers");
    buffers[which].reset(p);
    capacity[which] = floats;
  }
  return buffers[which].get();
}

using KernelFn = void (*)(int, const float*, const float*, float*, int, float, float, int, int);
// Packs rows / columns [x0, x0 + count) x k [p0, p0 + kc) (pack_a, pack_b).
using PackFn = void (*)(float*, const Problem&, int, int, int, int);

// A micro-kernel with the packing routines that write its sliver layout.
struct Kernels {
  KernelFn kernel;
  PackFn pack_a, pack_b;
};

// The AVX-512 kernel's packing: vectorized (gemm_pack_avx512.h), same layout.
static_assert(kPackMr512 == kMr512 && kPackNr512 == kNr512, "packing and kernel tiles differ");
void pack_a_512(float* dst, const Problem& pr, int i0, int rows, int p0, int kc) {
  pack_a_12x(dst, pr.a, pr.lda, pr.trans_a, i0, rows, p0, kc);
}
void pack_b_512(float* dst, const Problem& pr, int j0, int cols, int p0, int kc) {
  pack_b_x32(dst, pr.b, pr.ldb, pr.trans_b, j0, cols, p0, kc);
}

// Block sizes: the B panel (kc x NC) fills about half of L2, the A sliver
// (MR x kc) a quarter of L1; MC bounds the packed A chunk (L3).
template <int MR, int NR, int KC, int NC, int MC>
struct Blocking {
  static constexpr int kMr = MR, kNr = NR, kKc = KC, kNc = NC, kMc = MC;
  static_assert(NC % NR == 0 && MC % MR == 0, "panels must hold whole slivers");
};
using Blocking512 = Blocking<kMr512, kNr512, 384, 512, 1920>;
using Blocking256 = Blocking<kMr256, kNr256, 256, 384, 960>;

// C rows [r0, r1) x columns [c0, c1), all of k; one thread.
template <class B>
void gemm_rect(const Problem& pr, const Kernels& kn, int r0, int r1, int c0, int c1) {
  float* pa = thread_buffer(0, static_cast<size_t>(B::kMc) * B::kKc);
  float* pb = thread_buffer(1, static_cast<size_t>(B::kNc) * B::kKc);
  // Panels of equal width (whole slivers): a last panel of one or two
  // slivers would reload every A sliver into L1 for one or two tiles.
  const int slivers = (c1 - c0 + B::kNr - 1) / B::kNr;
  const int panels = (slivers * B::kNr + B::kNc - 1) / B::kNc;
  const int panel = (slivers + panels - 1) / panels * B::kNr;
  // Row chunks of equal height too: 2048 rows as 1920 + 128 would pack all
  // of B again for the last 128 rows. (Chunking never changes a C element's
  // summation order: k ascending in kc blocks, whatever the chunk.)
  const int chunks = (r1 - r0 + B::kMc - 1) / B::kMc;
  const int chunk = ((r1 - r0 + chunks - 1) / chunks + B::kMr - 1) / B::kMr * B::kMr;
  for (int ic = r0; ic < r1; ic += chunk) {
    const int mc = std::min(chunk, r1 - ic);
    for (int pc = 0; pc < pr.k; pc += B::kKc) {
      const int kc = std::min(B::kKc, pr.k - pc);
      const float beta = pc == 0 ? pr.beta : 1.0f;
      kn.pack_a(pa, pr, ic, mc, pc, kc);
      for (int jc = c0; jc < c1; jc += panel) {
        const int nc = std::min(panel, c1 - jc);
        kn.pack_b(pb, pr, jc, nc, pc, kc);
        for (int ir = 0; ir < mc; ir += B::kMr) {
          const float* a_sliver = pa + static_cast<size_t>(ir) * kc;
          float* c_row = pr.c + static_cast<size_t>(ic + ir) * pr.ldc + jc;
          const int mr = std::min(B::kMr, mc - ir);
          for (int jr = 0; jr < nc; jr += B::kNr) {
            kn.kernel(kc, a_sliver, pb + static_cast<size_t>(jr) * kc, c_row + jr, pr.ldc, pr.alpha,
                      beta, mr, std::min(B::kNr, nc - jr));
          }
        }
      }
    }
  }
}

// Splits the tiles over `threads` as a grid tm x tn (tm * tn = threads) whose
// busiest thread has the fewest tiles; ties favour splitting m (each thread
// then packs only its own rows of A).
template <class B>
void gemm_blocked(const Problem& pr, const Kernels& kn, int threads) {
  const long ms = (pr.m + B::kMr - 1) / B::kMr, ns = (pr.n + B::kNr - 1) / B::kNr;
  int tm = 1, tn = 1;
  long best = -1;
  for (int cand_m = threads; cand_m >= 1; --cand_m) {
    if (threads % cand_m != 0) continue;
    const int cand_n = threads / cand_m;
    if (cand_m > ms || cand_n > ns) continue;
    const long busiest = ((ms + cand_m - 1) / cand_m) * ((ns + cand_n - 1) / cand_n);
    if (best < 0 || busiest < best) {
      best = busiest;
      tm = cand_m;
      tn = cand_n;
    }
  }
  const int team = tm * tn;
#pragma omp parallel num_threads(team) if (team > 1)
  {
    const int t = team > 1 ? omp_get_thread_num() : 0;
    const int im = t / tn, in = t % tn;
    const int r0 = static_cast<int>(ms * im / tm) * B::kMr;
    const int r1 = std::min<long>(pr.m, ms * (im + 1) / tm * B::kMr);
    const int c0 = static_cast<int>(ns * in / tn) * B::kNr;
    const int c1 = std::min<long>(pr.n, ns * (in + 1) / tn * B::kNr);
    if (r0 < r1 && c0 < c1) gemm_rect<B>(pr, kn, r0, r1, c0, c1);
  }
}

// C = beta * C (k == 0 or alpha == 0: the product adds nothing).
void scale_c(const Problem& pr) {
  for (int i = 0; i < pr.m; ++i) {
    float* row = pr.c + static_cast<size_t>(i) * pr.ldc;
    for (int j = 0; j < pr.n; ++j) row[j] = pr.beta == 0.0f ? 0.0f : pr.beta * row[j];
  }
}

}  // namespace

namespace {
// kAuto: MASQUE_GEMM (avx512, avx2 or blas) when set, for same-build
// comparisons; else the CPU's best.
GemmImpl auto_gemm() {
  static const GemmImpl chosen = [] {
    const char* env = std::getenv("MASQUE_GEMM");
    // Without AVX-512, OpenBLAS's own AVX2 kernels beat masque's 6 x 16 one
    // (bench_gemm_ceiling with OPENBLAS_CORETYPE=Haswell: 85 against 73
    // GFLOP per CPU-second at C2's shapes), and OpenBLAS detects such CPUs.
    if (env == nullptr || *env == '\0') {
      return cpu_has_avx512() ? GemmImpl::kAvx512 : GemmImpl::kBlas;
    }
    const std::string name = env;
    if (name == "avx512") return resolve_gemm(GemmImpl::kAvx512);
    if (name == "avx2") return GemmImpl::kAvx2;
    if (name == "blas") return GemmImpl::kBlas;
    throw InputError(
        cat("MASQUE_GEMM='", name, "' is not a GEMM: use avx512, avx2 or blas (or unset it)"));
  }();
  return chosen;
}
}  // namespace

GemmImpl resolve_gemm(GemmImpl impl) {
  switch (impl) {
    case GemmImpl::kAuto:
      return auto_gemm();
    case GemmImpl::kAvx512:
      resolve_isa(CpuIsa::kAvx512);  // throws on a CPU without AVX-512
      return impl;
    default:
      return impl;
  }
}

const char* gemm_impl_name(GemmImpl impl) {
  switch (impl) {
    case GemmImpl::kAuto:
      return "auto";
    case GemmImpl::kAvx512:
      return "masque-avx512";
    case GemmImpl::kAvx2:
      return "masque-avx2";
    case GemmImpl::kBlas:
      return "cblas";
  }
  return "?";
}

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc, GemmImpl impl) {
  if (m <= 0 || n <= 0) return;
  impl = resolve_gemm(impl);
  if (impl == GemmImpl::kBlas) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const Problem pr{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
  if (k <= 0 || alpha == 0.0f) {
    scale_c(pr);
    return;
  }
  // Below ~2^18 multiply-adds per thread the fork/join costs more than it saves.
  const long long work = static_cast<long long>(m) * n * k;
  int threads = omp_in_parallel() ? 1 : num_threads();
  if (work < (1LL << 18) * threads) threads = 1;
  if (impl == GemmImpl::kAvx512) {
    gemm_blocked<Blocking512>(pr, {&kernel_512, &pack_a_512, &pack_b_512}, threads);
  } else {
    gemm_blocked<Blocking256>(pr, {&kernel_256, &pack_a<kMr256>, &pack_b<kNr256>}, threads);
  }
}

}  // namespace masque::cpu
