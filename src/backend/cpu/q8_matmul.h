// Linear layers with Q8_0 weights (backend/q8_matrix.h) for decoding: one
// row per sequence, a few rows when sequences decode as a batch. At those
// row counts a linear layer is bound by reading the weight, and Q8_0 is 3.6x
// fewer bytes than float32 (36 per 32 weights with float scales). The kernels
// widen each block's int8 weights to float32 in registers (w = scale * q,
// exact: an int8 times an f16 scale fits a float's mantissa) and take float32
// dot products with the activations, so the result is the float32 product
// with the dequantized weight up to summation order; the activations are not
// quantized (llama.cpp rounds them to 8 bits, docs/benchmarks.md says why not
// here). Also the conversions from ggml's block bytes and from float32.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/q8_matrix.h"

namespace masque::cpu {

// Most rows q8_matmul is used for (Backend::matmul_forward_q8); above it the
// float32 sgemm on the dequantized weight is faster (bench_q8_matmul).
constexpr int kQ8MaxRows = 32;

// out [rows, w.rows] = inp [rows, w.in] @ dequant(w)^T + beta * out (beta 0:
// out is not read). Multithreaded over weight rows unless called inside an
// OpenMP region. `isa` forces a kernel (tests).
void q8_matmul(float* out, const float* inp, const Q8Matrix& w, int rows, float beta,
               CpuIsa isa = CpuIsa::kAuto);

// ggml's block_q8_0 bytes (per block: f16 scale, 32 int8), `rows` rows of
// `in` weights each, as a Q8Matrix. `in` must be a multiple of 32 (Error).
Q8Matrix q8_from_ggml_blocks(const std::uint8_t* blocks, int rows, int in);

// float32 [rows, in] quantized as ggml's quantize_row_q8_0 does: per block
// d = max|x| / 127 stored as f16, q = round(x / d).
Q8Matrix q8_quantize(const float* w, int rows, int in);

// The rows of `parts` one after another (all with the same `in`): q|k|v and
// gate|up are fused matrices in masque.
Q8Matrix q8_concat_rows(const std::vector<const Q8Matrix*>& parts);

// dequant(w) [rows, in] as float32 (tests, and the exactness checks).
std::vector<float> q8_dequantize(const Q8Matrix& w);

}  // namespace masque::cpu
