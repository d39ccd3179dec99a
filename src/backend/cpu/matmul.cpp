// sgemm wrappers for the bias-free linear layers (see matmul.h).
#include "backend/cpu/matmul.h"

#include <cblas.h>

#include <cstddef>

namespace masque::cpu {

// Up to this many rows (decoding a few sequences) a matrix-vector product per
// row beats sgemm, which first packs (copies) the whole weight; the weight
// stays in cache between the rows. Measured with bench_batched_decode (C1):
// per-row sgemv wins at 1-4 rows and loses at 8 and 16.
constexpr int kSkinnyRows = 4;

namespace {
// out = inp @ weight^T + beta * out.
void linear(float* out, const float* inp, const float* weight, int rows, int in, int out_dim,
            float beta) {
  if (rows <= kSkinnyRows) {
    for (int r = 0; r < rows; ++r) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in, 1.0f, weight, in,
                  inp + static_cast<std::size_t>(r) * in, 1, beta,
                  out + static_cast<std::size_t>(r) * out_dim, 1);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_dim, in, 1.0f, inp, in, weight, in,
              beta, out, out_dim);
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out_dim, 1.0f, dout, out_dim,
                weight, in, 0.0f, dinp, in);
  }
  if (dweight != nullptr) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in, rows, 1.0f, dout, out_dim,
                inp, in, 1.0f, dweight, in);
  }
}

}  // namespace masque::cpu
