// GEMM wrappers for the bias-free linear layers (see matmul.h).
#include "backend/cpu/matmul.h"

#include <cblas.h>

#include <cstddef>

#include "backend/cpu/gemm.h"
#include "backend/cpu/skinny_matmul.h"

namespace masque::cpu {

namespace {
// out = inp @ weight^T + beta * out. A GEMM packs (copies) the whole weight on
// every call, which dominates at decoding's row counts (one row per
// sequence); there the skinny kernels read each weight row once instead, and
// one row is OpenBLAS's matrix-vector product. Measured with
// bench_skinny_matmul (docs/benchmarks.md): at 2-32 rows the skinny AVX-512
// kernel beats sgemm at the C1 model's shapes; at one row sgemv and the
// skinny kernel tie.
void linear(float* out, const float* inp, const float* weight, int rows, int in, int out_dim,
            float beta) {
  if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in, 1.0f, weight, in, inp, 1, beta, out, 1);
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
