// GEMM wrappers for the bias-free linear layers (see matmul.h).
#include "backend/cpu/matmul.h"

#include <cblas.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemv.h"
#include "backend/cpu/skinny_matmul.h"

namespace masque::cpu {

namespace {
// One row: OpenBLAS's sgemv only with MASQUE_GEMM=blas (same-build
// comparisons), else masque's gemv.h, so that decoding speed does not depend
// on OpenBLAS's CPU detection (issue 11); MASQUE_GEMM=avx2 forces its AVX2
// kernel. resolve_gemm validates the variable (a bad value throws).
struct OneRowChoice {
  bool blas;
  CpuIsa isa;
};
OneRowChoice one_row_choice() {
  static const OneRowChoice chosen = [] {
    const GemmImpl gemm = resolve_gemm(GemmImpl::kAuto);
    const char* env = std::getenv("MASQUE_GEMM");
    const bool blas = env != nullptr && std::strcmp(env, "blas") == 0;
    return OneRowChoice{blas, gemm == GemmImpl::kAvx2 ? CpuIsa::kAvx2 : CpuIsa::kAuto};
  }();
  return chosen;
}

// out = inp @ weight^T + beta * out. A GEMM packs (copies) the whole weight on
// every call, which dominates at decoding's row counts (one row per
// sequence); there the skinny kernels read each weight row once instead, and
// one row takes the gemv kernel (8 independent FMA chains per block where
// the skinny 1 x 4 tile has 4). Measured with bench_skinny_matmul (2-32
// rows) and bench_batched_decode (one row; docs/benchmarks.md).
void linear(float* out, const float* inp, const float* weight, int rows, int in, int out_dim,
            float beta) {
  if (rows == 1) {
    const OneRowChoice choice = one_row_choice();
    if (choice.blas) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in, 1.0f, weight, in, inp, 1, beta, out, 1);
    } else {
      gemv(out, inp, weight, in, out_dim, beta, choice.isa);
    }
    return;
  }
  if (rows <= kSkinnyMaxRows) {
    skinny_matmul(out, inp, weight, rows, in, out_dim, beta);
    return;
  }
  sgemm(false, true, rows, out_dim, in, 1.0f, inp, in, weight, in, beta, out, out_dim);
}
}  // namespace

void matmul_forward(float* out, const float* inp, const float* weight, int rows, int in,
                    int out_dim) {
  linear(out, inp, weight, rows, in, out_dim, 0.0f);
}

void matmul_forward_add(float* out, const float* inp, const float* weight, int rows, int in,
                        int out_dim) {
  linear(out, inp, weight, rows, in, out_dim, 1.0f);
}

void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                     const float* weight, int rows, int in, int out_dim) {
  if (dinp != nullptr) {
    sgemm(false, false, rows, in, out_dim, 1.0f, dout, out_dim, weight, in, 0.0f, dinp, in);
  }
  if (dweight != nullptr) {
    sgemm(true, false, out_dim, in, rows, 1.0f, dout, out_dim, inp, in, 1.0f, dweight, in);
  }
}

}  // namespace masque::cpu
