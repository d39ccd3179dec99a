// AVX-512 packing for the 12 x 32 float32 GEMM kernel (gemm.cpp). Packing
// copies op(A) and op(B) into the micro-kernel's sliver layout; the generic
// element-by-element loops spent 15-28% of a GEMM at the C1 step's shapes
// (K = 256, perf at one thread: every load of a transposed operand waited on
// memory, one float at a time). Here rows are read along their length (the
// hardware prefetcher follows them), transposes are 16 x 16 register
// transposes, and stores are whole vectors. The layout written is exactly
// the generic loops', so GEMM results are bit-identical to theirs.
#pragma once

namespace masque::cpu {

constexpr int kPackMr512 = 12, kPackNr512 = 32;

// Rows [i0, i0 + rows) x k [p0, p0 + kc) of op(A) (A stored [k, m] when
// trans_a, else [m, k]) into 12-row slivers: sliver s at dst + s * 12 * kc,
// element (i, p) at [p * 12 + i]; rows past the edge are 0.
void pack_a_12x(float* dst, const float* a, int lda, bool trans_a, int i0, int rows, int p0,
                int kc);

// Columns [j0, j0 + cols) x k [p0, p0 + kc) of op(B) (B stored [n, k] when
// trans_b, else [k, n]) into 32-column slivers: sliver s at
// dst + s * 32 * kc, element (p, j) at [p * 32 + j]; columns past the edge 0.
void pack_b_x32(float* dst, const float* b, int ldb, bool trans_b, int j0, int cols, int p0,
                int kc);

}  // namespace masque::cpu
