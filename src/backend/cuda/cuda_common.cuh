// Device helpers shared by the .cu files: fixed-order block reductions and
// grid sizing. Determinism rests here: a block reduction is a tree over kBlock
// shared slots in a fixed pairing, so its result depends only on the inputs.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "backend/cuda/cuda_kernels.h"

namespace masque::cuda {

// Blocks for a grid-stride loop over n elements. Capped: the loops stride, so
// the cap changes only speed, never which thread computes an element's value
// (every elementwise result depends on its own inputs alone).
inline unsigned grid_for(std::size_t n) {
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  const std::size_t cap = 1u << 16;
  return static_cast<unsigned>(blocks == 0 ? 1 : (blocks < cap ? blocks : cap));
}

// Sum of v over the block (blockDim.x == kBlock), returned to every thread.
// `shared` holds kBlock values; every thread of the block must call this.
template <class T>
__device__ T block_sum(T v, T* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
    if (static_cast<int>(threadIdx.x) < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  const T result = shared[0];
  __syncthreads();  // `shared` may be reused right after
  return result;
}

// Max of v over the block; same contract as block_sum.
__device__ inline float block_max(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
    if (static_cast<int>(threadIdx.x) < stride)
      shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + stride]);
    __syncthreads();
  }
  const float result = shared[0];
  __syncthreads();
  return result;
}

}  // namespace masque::cuda
