// Linear layers without bias through masque's GEMM (gemm.h; decoding's few
// rows through skinny_matmul.h, one row through gemv.h, OpenBLAS sgemv only
// with MASQUE_GEMM=blas), weights in the Hugging Face [out, in] layout. Outside an OpenMP region
// the GEMM uses all masque threads; inside one it runs single-threaded.
#pragma once
#include <cstddef>

namespace masque::cpu {

// inp [rows, in], weight [out, in] -> out [rows, out] = inp @ weight^T (overwritten).
void matmul_forward(float* out, const float* inp, const float* weight, int rows, int in,
                    int out_dim);

// out [rows, out] += inp @ weight^T: a linear layer feeding the residual stream.
void matmul_forward_add(float* out, const float* inp, const float* weight, int rows, int in,
                        int out_dim);

// dout [rows, out]: dinp [rows, in] = dout @ weight (overwritten; skipped when
// null); dweight [out, in] += dout^T @ inp (accumulated; skipped when null).
void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                     const float* weight, int rows, int in, int out_dim);

}  // namespace masque::cpu
