// Fused softmax cross-entropy of the CUDA backend (math of
// src/backend/cpu/cross_entropy.cpp): one block per row; the forward reduces
// max and sum(exp) in fixed trees, the backward writes scale * (softmax -
// onehot) elementwise. Targets -1 are ignored (loss 0, gradient 0).
#include "backend/cuda/cuda_common.cuh"

namespace masque::cuda {
namespace {

__global__ void cross_entropy_forward_kernel(float* losses, float* lse, const float* logits,
                                             const std::int32_t* targets, int vocab) {
  __shared__ float shared[kBlock];
  const float* x = logits + static_cast<std::size_t>(blockIdx.x) * vocab;
  float m = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += kBlock) m = fmaxf(m, x[i]);
  m = block_max(m, shared);
  float sum = 0.0f;
  for (int i = threadIdx.x; i < vocab; i += kBlock) sum += expf(x[i] - m);
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) {
    const float row_lse = m + logf(sum);
    lse[blockIdx.x] = row_lse;
    const std::int32_t target = targets[blockIdx.x];
    losses[blockIdx.x] = target < 0 ? 0.0f : row_lse - x[target];
  }
}

// One block per row. dlogits may alias logits: each element is read and
// written by the same thread.
__global__ void cross_entropy_backward_kernel(float* dlogits, const float* logits, const float* lse,
                                              const std::int32_t* targets, int vocab, float scale) {
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * vocab;
  const std::int32_t target = targets[blockIdx.x];
  const float row_lse = lse[blockIdx.x];
  for (int i = threadIdx.x; i < vocab; i += kBlock) {
    if (target < 0) {
      dlogits[base + i] = 0.0f;
      continue;
    }
    float d = expf(logits[base + i] - row_lse) * scale;
    if (i == target) d -= scale;
    dlogits[base + i] = d;
  }
}

}  // namespace

cudaError_t cross_entropy_forward(float* losses, float* lse, const float* logits,
                                  const std::int32_t* targets, int rows, int vocab) {
  if (rows <= 0 || vocab <= 0) return cudaSuccess;
  cross_entropy_forward_kernel<<<rows, kBlock>>>(losses, lse, logits, targets, vocab);
  return cudaGetLastError();
}

cudaError_t cross_entropy_backward(float* dlogits, const float* logits, const float* lse,
                                   const std::int32_t* targets, int rows, int vocab, float scale) {
  if (rows <= 0 || vocab <= 0) return cudaSuccess;
  cross_entropy_backward_kernel<<<rows, kBlock>>>(dlogits, logits, lse, targets, vocab, scale);
  return cudaGetLastError();
}

}  // namespace masque::cuda
