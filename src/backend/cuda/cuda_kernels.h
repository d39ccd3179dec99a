// The CUDA kernels behind CudaBackend, as plain C++17 functions over raw
// device pointers. This header is the seam between the two compilers: the .cu
// files (nvcc, CUDA C++17; CMake 3.25 knows no CUDA20) implement it, and
// cuda_backend.cpp (host compiler, C++20, sees backend.h) calls it. Nothing
// here may need C++20 or masque's Backend types.
//
// Every function launches on the legacy default stream, so calls are ordered
// with each other and with cudaMemcpy, and returns cudaGetLastError() after the
// launch (launch-configuration errors; faults inside a kernel surface at the
// next synchronizing call). Shapes follow backend.h; the math is the CPU
// kernels' (src/backend/cpu), and every reduction runs in a fixed order that
// depends only on the shape, never on timing or the GPU model.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace masque::cuda {

// Threads per block of the reduction kernels. A power of two: the block
// reductions halve it. Fixed, so reduction trees (and results) are too.
constexpr int kBlock = 256;

// ---- elementwise and reductions (elementwise.cu) ---------------------------
cudaError_t add_inplace(float* out, const float* a, std::size_t n);
cudaError_t scale_inplace(float* x, std::size_t n, float factor);

// sum of x[i]^2 in float64. partial: device doubles [kSumSquaresBlocks];
// result: one device double. A fixed grid of kSumSquaresBlocks blocks, each
// summing a strided slice, then one block summing the partials in a tree.
constexpr int kSumSquaresBlocks = 256;
cudaError_t sum_squares(double* result, double* partial, const float* x, std::size_t n);

// tokens [rows] (device), table [vocab, dim] -> out [rows, dim].
cudaError_t embedding_forward(float* out, const std::int32_t* tokens, const float* table, int rows,
                              int dim);
// dtable [vocab, dim] += scatter of dout by token: one thread per column walks
// the rows in order, so repeated tokens add in row order without atomics.
cudaError_t embedding_backward(float* dtable, const float* dout, const std::int32_t* tokens,
                               int rows, int dim);

// gate_up [rows, 2*ff] -> out [rows, ff]; backward overwrites dgate_up, which
// may alias gate_up.
cudaError_t swiglu_forward(float* out, const float* gate_up, int rows, int ff);
cudaError_t swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows,
                            int ff);

// AdamW scalars precomputed on the host exactly as the CPU kernel does.
struct AdamWScalars {
  float beta1 = 0;
  float beta2 = 0;
  float eps = 0;
  float step_size = 0;              // lr / (1 - beta1^t)
  float bias_correction2_sqrt = 0;  // sqrt(1 - beta2^t)
  float decay = 0;                  // lr * weight_decay
};
// mask may be null (= decay everywhere).
cudaError_t adamw_update(float* param, const float* grad, float* m, float* v, const float* mask,
                         std::size_t n, const AdamWScalars& scalars);

// One row of width dim: row += alpha * vec.
cudaError_t add_vector_row(float* row, const float* vec, int dim, float alpha);
// One row: row -= (row . unit) unit, the dot product in float64.
cudaError_t project_out_row(float* row, const float* unit, int dim);

// Zero `width` floats of each of `rows` rows of stride ld.
cudaError_t zero_rows(float* x, int rows, int width, int ld);

// ---- RMSNorm and RoPE (norm_rope.cu) ----------------------------------------
cudaError_t rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight,
                            int rows, int dim, float eps);
cudaError_t rmsnorm_apply(float* out, const float* rstd, const float* inp, const float* weight,
                          int rows, int dim);
// dinp += (accumulated; skipped when null), dweight += over rows (skipped when null).
cudaError_t rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                             const float* weight, const float* rstd, int rows, int dim);

// In place on rows of stride ld, n_heads heads each; positions [rows] and the
// cos/sin tables [max_pos, head_dim/2] are device arrays. sign +1 rotates
// (forward), -1 rotates back (backward).
cudaError_t rope_rotate(float* x, const std::int32_t* positions, int rows, int n_heads,
                        int head_dim, int ld, const float* cos, const float* sin, float sign);

// ---- cross-entropy (cross_entropy.cu) ---------------------------------------
cudaError_t cross_entropy_forward(float* losses, float* lse, const float* logits,
                                  const std::int32_t* targets, int rows, int vocab);
cudaError_t cross_entropy_backward(float* dlogits, const float* logits, const float* lse,
                                   const std::int32_t* targets, int rows, int vocab, float scale);

// ---- attention (attention.cu) ------------------------------------------------
// Mirror of backend.h's AttentionHeads (which this C++17 side cannot see).
struct AttentionLayout {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int ldq = 0, ldk = 0, ldv = 0, ldo = 0;
};

// Floats of `scores` attention_forward_seq needs.
std::size_t attention_forward_scratch_floats(int n_q, int n_heads, int n_k);

// One sequence of a ragged forward (backend.h's AttentionSeq): query rows
// [q_row, q_row + n_q) of q/out, keys and values rows [0, n_k) of k/v, query i
// at position q_pos + i. lse (may be null) is the CPU kernel's layout:
// [n_heads, n_q] at lse + q_row * n_heads. scores: scratch.
cudaError_t attention_forward_seq(float* out, float* lse, const float* q, const float* k,
                                  const float* v, int q_row, int n_q, int q_pos, int n_k,
                                  const AttentionLayout& layout, float* scores);

// Floats of `scratch` attention_backward_head needs.
std::size_t attention_backward_scratch_floats(int T);

// Backward of query head h of sequence b in a uniform batch (T rows per
// sequence, positions 0..T-1, k and v at the same rows as q): overwrites dq of
// that head, adds this head's share to dk and dv of its KV head (the caller
// zeroes them first and walks the heads in order, so sums are deterministic).
cudaError_t attention_backward_head(float* dq, float* dk, float* dv, const float* dout,
                                    const float* out, const float* lse, const float* q,
                                    const float* k, const float* v, int b, int T, int h,
                                    const AttentionLayout& layout, float* scratch);

}  // namespace masque::cuda
