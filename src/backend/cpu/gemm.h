// masque's own float32 GEMM for the training step's matrix products: packed
// panels, a register-blocked micro-kernel (AVX-512: 12 x 32 tile; AVX2+FMA:
// 6 x 16), OpenMP over tiles. Chosen over Debian's OpenBLAS 0.3.21, BLIS
// 0.9.0 and oneDNN 2.6.3 by bench_gemm_ceiling (docs/benchmarks.md, "CPU
// GEMM at the AVX-512 ceiling"): the Debian OpenBLAS picks its kernels from
// the environment (OPENBLAS_CORETYPE) and misdetects recent Xeons, while
// these kernels are chosen from the CPU's own feature flags. On CPUs
// without AVX-512 the linked BLAS runs by default (measured faster than the
// AVX2 kernel, which stays selectable and tested).
//
// Deterministic: every element of C is summed by one thread in a fixed
// order (k in blocks of kc, ascending), so results do not depend on the
// thread count or on the schedule.
#pragma once

namespace masque::cpu {

enum class GemmImpl {
  kAuto,    // AVX-512 where the CPU has it, else the linked BLAS (faster than
            // kAvx2 there); the environment's MASQUE_GEMM=avx512|avx2|blas
            // overrides it
  kAvx512,  // throws Error on a CPU without AVX-512
  kAvx2,
  kBlas,  // the linked cblas_sgemm (benchmarks and tests compare against it)
};

// Row-major C[m, n] = alpha * op(A) @ op(B) + beta * C, op(A) [m, k] and
// op(B) [k, n]; op(X) = X^T when trans_x (then A is stored [k, m], B [n, k]).
// beta 0: C is not read (it may hold NaN). Multithreaded over tiles with
// num_threads() threads, single-threaded inside an OpenMP parallel region or
// for small products.
void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc, GemmImpl impl = GemmImpl::kAuto);

// kAuto resolved to what runs on this CPU.
GemmImpl resolve_gemm(GemmImpl impl);
const char* gemm_impl_name(GemmImpl impl);

}  // namespace masque::cpu
