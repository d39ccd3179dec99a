// RMSNorm (forward, apply, backward) and rotary embedding kernels of the CUDA
// backend, with the math of src/backend/cpu/rmsnorm.cpp and rope.cpp. Row
// reductions are one block per row (fixed tree); the weight gradient is one
// thread per column walking the rows in order, as the CPU does, so it needs
// no atomics and is bit-identical run to run.
#include "backend/cuda/cuda_common.cuh"

namespace masque::cuda {
namespace {

// One block per row: rstd = 1 / sqrt(mean(x^2) + eps), out = w * (x * rstd).
__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp,
                                       const float* weight, int dim, float eps) {
  __shared__ float shared[kBlock];
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * dim;
  const float* x = inp + base;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += kBlock) ss += x[i] * x[i];
  ss = block_sum(ss, shared);
  // 1/sqrtf (correctly rounded), not rsqrtf (approximate): closer to the CPU.
  const float r = 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
  if (rstd != nullptr && threadIdx.x == 0) rstd[blockIdx.x] = r;
  for (int i = threadIdx.x; i < dim; i += kBlock) out[base + i] = weight[i] * (x[i] * r);
}

__global__ void rmsnorm_apply_kernel(float* out, const float* rstd, const float* inp,
                                     const float* weight, int rows, int dim) {
  const std::size_t n = static_cast<std::size_t>(rows) * dim;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[i] = weight[i % dim] * (inp[i] * rstd[i / dim]);
  }
}

// One block per row. With xh = x * r: dx += r * (w*dy - x * r^2 * mean(w*dy*x)).
__global__ void rmsnorm_backward_input_kernel(float* dinp, const float* dout, const float* inp,
                                              const float* weight, const float* rstd, int dim) {
  __shared__ float shared[kBlock];
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * dim;
  const float* x = inp + base;
  const float* dy = dout + base;
  const float r = rstd[blockIdx.x];
  float dot = 0.0f;
  for (int i = threadIdx.x; i < dim; i += kBlock) dot += weight[i] * dy[i] * x[i];
  dot = block_sum(dot, shared);
  const float coef = dot * r * r / static_cast<float>(dim);
  for (int i = threadIdx.x; i < dim; i += kBlock)
    dinp[base + i] += r * (weight[i] * dy[i] - x[i] * coef);
}

// One thread per column, rows in order (the CPU's order): dweight += dy * xh.
__global__ void rmsnorm_backward_weight_kernel(float* dweight, const float* dout, const float* inp,
                                               const float* rstd, int rows, int dim) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= dim) return;
  float acc = dweight[col];
  for (int row = 0; row < rows; ++row) {
    const std::size_t i = static_cast<std::size_t>(row) * dim + col;
    acc += dout[i] * (inp[i] * rstd[row]);
  }
  dweight[col] = acc;
}

// One thread per (row, head, pair i): elements i and i + half rotate together
// (Hugging Face rotate_half), by the angle of the row's own position.
__global__ void rope_kernel(float* x, const std::int32_t* positions, int rows, int n_heads,
                            int head_dim, int ld, const float* cos, const float* sin, float sign) {
  const int half = head_dim / 2;
  const std::size_t n = static_cast<std::size_t>(rows) * n_heads * half;
  for (std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; idx < n;
       idx += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(idx % half);
    const std::size_t row_head = idx / half;
    const int h = static_cast<int>(row_head % n_heads);
    const std::size_t row = row_head / n_heads;
    const std::size_t table = static_cast<std::size_t>(positions[row]) * half + i;
    const float c = cos[table];
    const float s = sign * sin[table];
    float* a = x + row * ld + static_cast<std::size_t>(h) * head_dim;
    const float x1 = a[i];
    const float x2 = a[i + half];
    a[i] = x1 * c - x2 * s;
    a[i + half] = x2 * c + x1 * s;
  }
}

}  // namespace

cudaError_t rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight,
                            int rows, int dim, float eps) {
  if (rows <= 0 || dim <= 0) return cudaSuccess;
  rmsnorm_forward_kernel<<<rows, kBlock>>>(out, rstd, inp, weight, dim, eps);
  return cudaGetLastError();
}

cudaError_t rmsnorm_apply(float* out, const float* rstd, const float* inp, const float* weight,
                          int rows, int dim) {
  const std::size_t n = static_cast<std::size_t>(rows) * dim;
  if (rows <= 0 || dim <= 0) return cudaSuccess;
  rmsnorm_apply_kernel<<<grid_for(n), kBlock>>>(out, rstd, inp, weight, rows, dim);
  return cudaGetLastError();
}

cudaError_t rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                             const float* weight, const float* rstd, int rows, int dim) {
  if (rows <= 0 || dim <= 0) return cudaSuccess;
  if (dinp != nullptr) {
    rmsnorm_backward_input_kernel<<<rows, kBlock>>>(dinp, dout, inp, weight, rstd, dim);
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) return status;
  }
  if (dweight != nullptr) {
    rmsnorm_backward_weight_kernel<<<(dim + kBlock - 1) / kBlock, kBlock>>>(dweight, dout, inp,
                                                                            rstd, rows, dim);
  }
  return cudaGetLastError();
}

cudaError_t rope_rotate(float* x, const std::int32_t* positions, int rows, int n_heads,
                        int head_dim, int ld, const float* cos, const float* sin, float sign) {
  const std::size_t n = static_cast<std::size_t>(rows) * n_heads * (head_dim / 2);
  if (rows <= 0 || n == 0) return cudaSuccess;
  rope_kernel<<<grid_for(n), kBlock>>>(x, positions, rows, n_heads, head_dim, ld, cos, sin, sign);
  return cudaGetLastError();
}

}  // namespace masque::cuda
