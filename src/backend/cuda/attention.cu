// Causal grouped-query attention of the CUDA backend: the math of
// src/backend/cpu/attention.cpp in the plainest correct form (a later issue
// replaces it with a fused flash-style kernel).
//
// Forward: one block per (query row, head) of a sequence. The block writes the
// row's scaled scores to scratch, reduces max and sum(exp) in fixed trees,
// then each thread owns one output dimension and sums p_j v_j over keys in
// order. Backward, per (sequence, head): kernel A recomputes P from the saved
// logsumexp, forms dS = P * (dP - rowsum(dO * O)) * scale into scratch and
// writes dQ = dS K; kernel B gives each key row's thread per dimension the
// sums over query rows of dS^T Q and P^T dO, added to dK and dV. Query heads
// of one KV head are walked in order by the caller, so dK and dV are summed
// in a fixed order without atomics.
#include "backend/cuda/cuda_common.cuh"

namespace masque::cuda {
namespace {

__global__ void attention_forward_kernel(float* out, float* lse, const float* q, const float* k,
                                         const float* v, int q_row, int n_q, int q_pos, int n_k,
                                         AttentionLayout L, float scale, float* scores) {
  __shared__ float shared[kBlock];
  const int i = blockIdx.x;
  const int h = blockIdx.y;
  const int kvh = h / (L.n_heads / L.n_kv_heads);
  const int hd = L.head_dim;
  const int visible = min(n_k, q_pos + i + 1);  // keys j <= q_pos + i that exist
  const float* qi =
      q + static_cast<std::size_t>(q_row + i) * L.ldq + static_cast<std::size_t>(h) * hd;
  float* s = scores + (static_cast<std::size_t>(i) * L.n_heads + h) * n_k;

  float m = -INFINITY;
  for (int j = threadIdx.x; j < visible; j += kBlock) {
    const float* kj = k + static_cast<std::size_t>(j) * L.ldk + static_cast<std::size_t>(kvh) * hd;
    float dot = 0.0f;
    for (int d = 0; d < hd; ++d) dot += qi[d] * kj[d];
    s[j] = scale * dot;
    m = fmaxf(m, s[j]);
  }
  m = block_max(m, shared);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < visible; j += kBlock) {
    const float e = expf(s[j] - m);
    s[j] = e;
    sum += e;
  }
  // block_sum's barriers also publish every s[j] to the whole block.
  sum = block_sum(sum, shared);
  const float inv = 1.0f / sum;
  for (int d = threadIdx.x; d < hd; d += kBlock) {
    float acc = 0.0f;
    for (int j = 0; j < visible; ++j) {
      acc += (s[j] * inv) *
             v[static_cast<std::size_t>(j) * L.ldv + static_cast<std::size_t>(kvh) * hd + d];
    }
    out[static_cast<std::size_t>(q_row + i) * L.ldo + static_cast<std::size_t>(h) * hd + d] = acc;
  }
  if (lse != nullptr && threadIdx.x == 0) {
    lse[static_cast<std::size_t>(q_row) * L.n_heads + static_cast<std::size_t>(h) * n_q + i] =
        m + logf(sum);
  }
}

// Kernel A of the backward: one block per query row i of sequence b, head h.
// p and ds are [T, T] scratch (row i, columns j <= i used).
__global__ void attention_backward_query_kernel(float* dq, const float* dout, const float* out,
                                                const float* lse, const float* q, const float* k,
                                                const float* v, int b, int T, int h,
                                                AttentionLayout L, float scale, float* p,
                                                float* ds) {
  const int i = blockIdx.x;
  const int kvh = h / (L.n_heads / L.n_kv_heads);
  const int hd = L.head_dim;
  const std::size_t row = static_cast<std::size_t>(b) * T + i;
  const std::size_t row0 = static_cast<std::size_t>(b) * T;
  const float* qi = q + row * L.ldq + static_cast<std::size_t>(h) * hd;
  const float* doi = dout + row * L.ldo + static_cast<std::size_t>(h) * hd;
  const float* oi = out + row * L.ldo + static_cast<std::size_t>(h) * hd;
  const float lse_i = lse[row0 * L.n_heads + static_cast<std::size_t>(h) * T + i];
  // rowsum(dO * O): every thread computes it in the same order (cheap, and
  // saves a reduction).
  float delta = 0.0f;
  for (int d = 0; d < hd; ++d) delta += doi[d] * oi[d];
  float* p_row = p + static_cast<std::size_t>(i) * T;
  float* ds_row = ds + static_cast<std::size_t>(i) * T;
  for (int j = threadIdx.x; j <= i; j += kBlock) {
    const float* kj = k + (row0 + j) * L.ldk + static_cast<std::size_t>(kvh) * hd;
    const float* vj = v + (row0 + j) * L.ldv + static_cast<std::size_t>(kvh) * hd;
    float dot = 0.0f;
    float dp = 0.0f;
    for (int d = 0; d < hd; ++d) {
      dot += qi[d] * kj[d];
      dp += doi[d] * vj[d];
    }
    const float pij = expf(scale * dot - lse_i);
    p_row[j] = pij;
    ds_row[j] = pij * (dp - delta) * scale;
  }
  __syncthreads();  // ds_row complete before any thread sums over it
  for (int d = threadIdx.x; d < hd; d += kBlock) {
    float acc = 0.0f;
    for (int j = 0; j <= i; ++j)
      acc += ds_row[j] * k[(row0 + j) * L.ldk + static_cast<std::size_t>(kvh) * hd + d];
    dq[row * L.ldq + static_cast<std::size_t>(h) * hd + d] = acc;
  }
}

// Kernel B: one block per key row j; threads own dimensions and sum over the
// query rows i >= j (the ones that see key j) in order.
__global__ void attention_backward_key_kernel(float* dk, float* dv, const float* dout,
                                              const float* q, int b, int T, int h,
                                              AttentionLayout L, const float* p, const float* ds) {
  const int j = blockIdx.x;
  const int kvh = h / (L.n_heads / L.n_kv_heads);
  const int hd = L.head_dim;
  const std::size_t row0 = static_cast<std::size_t>(b) * T;
  for (int d = threadIdx.x; d < hd; d += kBlock) {
    float dk_acc = 0.0f;
    float dv_acc = 0.0f;
    for (int i = j; i < T; ++i) {
      const std::size_t ij = static_cast<std::size_t>(i) * T + j;
      dk_acc += ds[ij] * q[(row0 + i) * L.ldq + static_cast<std::size_t>(h) * hd + d];
      dv_acc += p[ij] * dout[(row0 + i) * L.ldo + static_cast<std::size_t>(h) * hd + d];
    }
    dk[(row0 + j) * L.ldk + static_cast<std::size_t>(kvh) * hd + d] += dk_acc;
    dv[(row0 + j) * L.ldv + static_cast<std::size_t>(kvh) * hd + d] += dv_acc;
  }
}

float softmax_scale(int head_dim) { return 1.0f / sqrtf(static_cast<float>(head_dim)); }

}  // namespace

std::size_t attention_forward_scratch_floats(int n_q, int n_heads, int n_k) {
  return static_cast<std::size_t>(n_q) * n_heads * static_cast<std::size_t>(n_k > 0 ? n_k : 1);
}

cudaError_t attention_forward_seq(float* out, float* lse, const float* q, const float* k,
                                  const float* v, int q_row, int n_q, int q_pos, int n_k,
                                  const AttentionLayout& layout, float* scores) {
  if (n_q <= 0 || layout.n_heads <= 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(n_q), static_cast<unsigned>(layout.n_heads));
  attention_forward_kernel<<<grid, kBlock>>>(out, lse, q, k, v, q_row, n_q, q_pos, n_k, layout,
                                             softmax_scale(layout.head_dim), scores);
  return cudaGetLastError();
}

std::size_t attention_backward_scratch_floats(int T) { return 2 * static_cast<std::size_t>(T) * T; }

cudaError_t attention_backward_head(float* dq, float* dk, float* dv, const float* dout,
                                    const float* out, const float* lse, const float* q,
                                    const float* k, const float* v, int b, int T, int h,
                                    const AttentionLayout& layout, float* scratch) {
  if (T <= 0) return cudaSuccess;
  float* p = scratch;
  float* ds = scratch + static_cast<std::size_t>(T) * T;
  const float scale = softmax_scale(layout.head_dim);
  attention_backward_query_kernel<<<T, kBlock>>>(dq, dout, out, lse, q, k, v, b, T, h, layout,
                                                 scale, p, ds);
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) return status;
  attention_backward_key_kernel<<<T, kBlock>>>(dk, dv, dout, q, b, T, h, layout, p, ds);
  return cudaGetLastError();
}

}  // namespace masque::cuda
