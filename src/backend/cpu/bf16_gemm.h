// bfloat16 matrix products with float32 accumulation, for mixed-precision
// training (`--dtype bf16`, docs/training.md). Operands stay float32 in
// memory; packing rounds them to bf16 (round-to-nearest-even, as
// bf16_convert.h) into the tile layouts the micro-kernels read, and the
// products accumulate in float32. Two micro-kernels, chosen at run time:
// AMX (TDPBF16PS on 16x16 float32 tiles) where the CPU and the OS allow it,
// else AVX512_BF16 (VDPBF16PS). Every output element is computed by one
// thread in a fixed order, so results are bit-identical at any thread count
// (for a given kernel).
#pragma once

namespace masque::cpu {

enum class Bf16Kernel { kAuto, kAvx512, kAmx };

// kAuto -> AMX where available, else AVX512_BF16. Throws InputError when the
// CPU lacks AVX512_BF16 (or AMX-BF16 for kAmx), naming the missing feature.
Bf16Kernel resolve_bf16_kernel(Bf16Kernel kernel);
const char* bf16_kernel_name(Bf16Kernel kernel);

// C [m, n] = alpha * op(A) op(B) + beta * C, row-major, op = transpose when
// set; op(A) and op(B) rounded to bf16, float32 accumulation. beta 0: C is
// not read. Multithreaded (num_threads()) unless called inside an OpenMP
// region.
void bf16_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
               int lda, const float* b, int ldb, float beta, float* c, int ldc,
               Bf16Kernel kernel = Bf16Kernel::kAuto);

// The linear layers of matmul.h in bf16 (same shapes and semantics).
void bf16_matmul_forward(float* out, const float* inp, const float* weight, int rows, int in,
                         int out_dim, bool accumulate);
void bf16_matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                          const float* weight, int rows, int in, int out_dim);

}  // namespace masque::cpu
