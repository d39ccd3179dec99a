// Elementwise and row kernels of the CUDA backend: residual add, scaling, the
// float64 sum of squares, embedding lookup and its scatter, SwiGLU, AdamW and
// the single-row interventions. Straightforward one-thread-per-element code:
// correctness and determinism first (a later issue makes them fast).
#include "backend/cuda/cuda_common.cuh"

namespace masque::cuda {
namespace {

__global__ void add_kernel(float* out, const float* a, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[i] += a[i];
  }
}

__global__ void scale_kernel(float* x, std::size_t n, float factor) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    x[i] *= factor;
  }
}

// Pass 1: block b sums elements b*kBlock + t + k*(grid*kBlock) per thread t,
// then reduces its threads in a tree. The grid is the constant
// kSumSquaresBlocks, so which element lands in which partial never changes.
__global__ void sum_squares_partial_kernel(double* partial, const float* x, std::size_t n) {
  __shared__ double shared[kBlock];
  double sum = 0.0;
  const std::size_t step = static_cast<std::size_t>(kSumSquaresBlocks) * kBlock;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(kBlock) + threadIdx.x; i < n;
       i += step) {
    const double g = x[i];
    sum += g * g;
  }
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// Pass 2: one block sums the kSumSquaresBlocks partials.
__global__ void sum_squares_final_kernel(double* result, const double* partial) {
  __shared__ double shared[kBlock];
  double sum = 0.0;
  for (int i = threadIdx.x; i < kSumSquaresBlocks; i += kBlock) sum += partial[i];
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) *result = sum;
}

__global__ void embedding_forward_kernel(float* out, const std::int32_t* tokens, const float* table,
                                         int rows, int dim) {
  const std::size_t n = static_cast<std::size_t>(rows) * dim;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t row = i / dim;
    const std::size_t col = i % dim;
    out[i] = table[static_cast<std::size_t>(tokens[row]) * dim + col];
  }
}

// One thread per column, rows in order: the CPU kernel's summation order, and
// no two threads ever write one element.
__global__ void embedding_backward_kernel(float* dtable, const float* dout,
                                          const std::int32_t* tokens, int rows, int dim) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= dim) return;
  for (int row = 0; row < rows; ++row) {
    dtable[static_cast<std::size_t>(tokens[row]) * dim + col] +=
        dout[static_cast<std::size_t>(row) * dim + col];
  }
}

__device__ inline float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

__global__ void swiglu_forward_kernel(float* out, const float* gate_up, int rows, int ff) {
  const std::size_t n = static_cast<std::size_t>(rows) * ff;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t row = i / ff;
    const std::size_t col = i % ff;
    const float g = gate_up[row * 2 * ff + col];
    const float u = gate_up[row * 2 * ff + ff + col];
    out[i] = g * sigmoid(g) * u;
  }
}

// d silu(g)/dg = s * (1 + g * (1 - s)), s = sigmoid(g). The thread that owns
// (row, col) reads gate and up before writing both gradients, which is what
// makes dgate_up == gate_up safe.
__global__ void swiglu_backward_kernel(float* dgate_up, const float* dout, const float* gate_up,
                                       int rows, int ff) {
  const std::size_t n = static_cast<std::size_t>(rows) * ff;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t row = i / ff;
    const std::size_t col = i % ff;
    const std::size_t gi = row * 2 * ff + col;
    const float g = gate_up[gi];
    const float u = gate_up[gi + ff];
    const float dh = dout[i];
    const float s = sigmoid(g);
    dgate_up[gi] = dh * u * (s * (1.0f + g * (1.0f - s)));
    dgate_up[gi + ff] = dh * g * s;
  }
}

// torch.optim.AdamW's order, as src/backend/cpu/optimizer.cpp: decay, moments,
// then the bias-corrected step.
__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, const float* mask,
                             std::size_t n, AdamWScalars s) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    float p = param[i];
    p = p * (1.0f - s.decay * (mask != nullptr ? mask[i] : 1.0f));
    const float g = grad[i];
    const float mi = s.beta1 * m[i] + (1.0f - s.beta1) * g;
    const float vi = s.beta2 * v[i] + (1.0f - s.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / s.bias_correction2_sqrt + s.eps;
    param[i] = p - s.step_size * (mi / denom);
  }
}

__global__ void add_vector_row_kernel(float* row, const float* vec, int dim, float alpha) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col < dim) row[col] += alpha * vec[col];
}

// One block: the dot product in float64 (as the CPU kernel), then the update.
// Every read of `row` happens before block_sum's barriers, every write after.
__global__ void project_out_row_kernel(float* row, const float* unit, int dim) {
  __shared__ double shared[kBlock];
  double dot = 0.0;
  for (int col = threadIdx.x; col < dim; col += kBlock)
    dot += static_cast<double>(row[col]) * unit[col];
  const float c = static_cast<float>(block_sum(dot, shared));
  for (int col = threadIdx.x; col < dim; col += kBlock) row[col] -= c * unit[col];
}

__global__ void zero_rows_kernel(float* x, int rows, int width, int ld) {
  const std::size_t n = static_cast<std::size_t>(rows) * width;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    x[(i / width) * ld + i % width] = 0.0f;
  }
}

}  // namespace

cudaError_t add_inplace(float* out, const float* a, std::size_t n) {
  if (n == 0) return cudaSuccess;
  add_kernel<<<grid_for(n), kBlock>>>(out, a, n);
  return cudaGetLastError();
}

cudaError_t scale_inplace(float* x, std::size_t n, float factor) {
  if (n == 0) return cudaSuccess;
  scale_kernel<<<grid_for(n), kBlock>>>(x, n, factor);
  return cudaGetLastError();
}

cudaError_t sum_squares(double* result, double* partial, const float* x, std::size_t n) {
  // Runs for n == 0 too: the partials are then 0 and *result is written.
  sum_squares_partial_kernel<<<kSumSquaresBlocks, kBlock>>>(partial, x, n);
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) return status;
  sum_squares_final_kernel<<<1, kBlock>>>(result, partial);
  return cudaGetLastError();
}

cudaError_t embedding_forward(float* out, const std::int32_t* tokens, const float* table, int rows,
                              int dim) {
  const std::size_t n = static_cast<std::size_t>(rows) * dim;
  if (n == 0) return cudaSuccess;
  embedding_forward_kernel<<<grid_for(n), kBlock>>>(out, tokens, table, rows, dim);
  return cudaGetLastError();
}

cudaError_t embedding_backward(float* dtable, const float* dout, const std::int32_t* tokens,
                               int rows, int dim) {
  if (rows <= 0 || dim <= 0) return cudaSuccess;
  embedding_backward_kernel<<<(dim + kBlock - 1) / kBlock, kBlock>>>(dtable, dout, tokens, rows,
                                                                     dim);
  return cudaGetLastError();
}

cudaError_t swiglu_forward(float* out, const float* gate_up, int rows, int ff) {
  const std::size_t n = static_cast<std::size_t>(rows) * ff;
  if (n == 0) return cudaSuccess;
  swiglu_forward_kernel<<<grid_for(n), kBlock>>>(out, gate_up, rows, ff);
  return cudaGetLastError();
}

cudaError_t swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows,
                            int ff) {
  const std::size_t n = static_cast<std::size_t>(rows) * ff;
  if (n == 0) return cudaSuccess;
  swiglu_backward_kernel<<<grid_for(n), kBlock>>>(dgate_up, dout, gate_up, rows, ff);
  return cudaGetLastError();
}

cudaError_t adamw_update(float* param, const float* grad, float* m, float* v, const float* mask,
                         std::size_t n, const AdamWScalars& scalars) {
  if (n == 0) return cudaSuccess;
  adamw_kernel<<<grid_for(n), kBlock>>>(param, grad, m, v, mask, n, scalars);
  return cudaGetLastError();
}

cudaError_t add_vector_row(float* row, const float* vec, int dim, float alpha) {
  if (dim <= 0) return cudaSuccess;
  add_vector_row_kernel<<<(dim + kBlock - 1) / kBlock, kBlock>>>(row, vec, dim, alpha);
  return cudaGetLastError();
}

cudaError_t project_out_row(float* row, const float* unit, int dim) {
  if (dim <= 0) return cudaSuccess;
  project_out_row_kernel<<<1, kBlock>>>(row, unit, dim);
  return cudaGetLastError();
}

cudaError_t zero_rows(float* x, int rows, int width, int ld) {
  const std::size_t n = static_cast<std::size_t>(rows) * width;
  if (n == 0) return cudaSuccess;
  zero_rows_kernel<<<grid_for(n), kBlock>>>(x, rows, width, ld);
  return cudaGetLastError();
}

}  // namespace masque::cuda
