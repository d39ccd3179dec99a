// sgemm wrappers for the bias-free linear layers (see matmul.h).
#include "backend/cpu/matmul.h"

#include <cblas.h>

namespace masque::cpu {

// One row (decoding a single sequence) is a matrix-vector product: sgemv
// streams the weight once, where sgemm would first pack (copy) all of it.
void matmul_forward(float* out, const float* inp, const float* weight, int rows, int in, int out_dim) {
  if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in, 1.0f, weight, in, inp, 1, 0.0f, out, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_dim, in, 1.0f, inp, in, weight, in,
              0.0f, out, out_dim);
}

void matmul_forward_add(float* out, const float* inp, const float* weight, int rows, int in, int out_dim) {
  if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in, 1.0f, weight, in, inp, 1, 1.0f, out, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_dim, in, 1.0f, inp, in, weight, in,
              1.0f, out, out_dim);
}

void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                     const float* weight, int rows, int in, int out_dim) {
  if (dinp != nullptr) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out_dim, 1.0f, dout, out_dim,
                weight, in, 0.0f, dinp, in);
  }
  if (dweight != nullptr) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in, rows, 1.0f, dout, out_dim, inp,
                in, 1.0f, dweight, in);
  }
}

}  // namespace masque::cpu
