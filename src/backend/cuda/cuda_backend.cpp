// CudaBackend: the Backend table on an NVIDIA GPU. Memory through the CUDA
// runtime, matrix products through cuBLAS (row-major by swapping operands),
// every other op through the kernels of cuda_kernels.h. Compiled by the host
// compiler as C++20 (it implements backend.h); the .cu files stay C++17.
// cuBLAS is loaded when the backend is first created (cublas_library.h).
//
// Everything runs on the legacy default stream: ops are ordered with each
// other and with the synchronous copies, so a download always sees the ops
// issued before it, and two threads sharing the backend are serialized by the
// device rather than racing. One cuBLAS handle serves every thread (cuBLAS is
// thread-safe with a shared handle whose configuration never changes).
// cuBLAS never uses atomics unless asked, so with one stream its results are
// bit-identical run to run on one GPU model, as are the kernels'.
#include "backend/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/cublas_library.h"
#include "backend/cuda/cuda_kernels.h"
#include "core/error.h"

namespace masque {
namespace {

// Clears the runtime's last-error slot: a failed call that is not sticky
// (a failed cudaMalloc) must not be reported again by the next launch check.
void clear_error() { (void)cudaGetLastError(); }

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  clear_error();
  throw Error(cat("CUDA ", what, " failed: ", cudaGetErrorString(status)));
}

void check_blas(const cuda::CublasApi& blas, cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(cat("cuBLAS ", what, " failed: ", blas.status_string(status)));
}

// The InputError every "cannot use the GPU" case throws.
[[noreturn]] void unavailable(const std::string& why) {
  throw InputError(cat("backend 'cuda' is not available: ", why, "; use --backend cpu"));
}

cuda::AttentionLayout layout_of(const AttentionHeads& heads) {
  cuda::AttentionLayout layout;
  layout.n_heads = heads.n_heads;
  layout.n_kv_heads = heads.n_kv_heads;
  layout.head_dim = heads.head_dim;
  layout.ldq = heads.ldq;
  layout.ldk = heads.ldk;
  layout.ldv = heads.ldv;
  layout.ldo = heads.ldo;
  return layout;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      clear_error();
      unavailable(
          cat("no usable CUDA device (cudaGetDeviceCount: ", cudaGetErrorString(status), ")"));
    }
    if (count == 0) unavailable("no CUDA device found");
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    cudaDeviceProp props{};
    check(cudaGetDeviceProperties(&props, device), "cudaGetDeviceProperties");
    // The kernels are compiled for sm_80 and sm_90 (with PTX for newer GPUs).
    if (props.major < 8) {
      unavailable(cat("device ", device, " (", props.name, ") has compute capability ", props.major,
                      ".", props.minor, "; masque's CUDA kernels need 8.0 or newer"));
    }
    // cuBLAS only once a device is known to be there (it is large to load).
    blas_ = &cuda::cublas_api();
    const cublasStatus_t created = blas_->create(&handle_);
    if (created != CUBLAS_STATUS_SUCCESS)
      unavailable(cat("cublasCreate: ", blas_->status_string(created)));
    // Plain float32 products (no TF32), like the CPU's sgemm.
    const cublasStatus_t mode = blas_->set_math_mode(handle_, CUBLAS_DEFAULT_MATH);
    if (mode != CUBLAS_STATUS_SUCCESS) {
      (void)blas_->destroy(handle_);  // the destructor does not run for a throwing constructor
      check_blas(*blas_, mode, "cublasSetMathMode");
    }
  }
  ~CudaBackend() override {
    if (handle_ != nullptr) (void)blas_->destroy(handle_);
  }
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return "cuda"; }
  bool host_addressable() const override { return false; }

  // ---- memory -------------------------------------------------------------
  void* allocate(std::size_t bytes) const override {
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status != cudaSuccess) {
      clear_error();
      throw Error(cat("CUDA out of memory allocating ", bytes, " bytes (",
                      cudaGetErrorString(status), "): use a smaller model, batch or context"));
    }
    const cudaError_t zeroed = cudaMemset(ptr, 0, bytes);
    if (zeroed != cudaSuccess) {
      (void)cudaFree(ptr);
      check(zeroed, "cudaMemset of a new buffer");
    }
    return ptr;
  }
  void release(void* ptr) const noexcept override {
    // Errors here are sticky faults of earlier kernels; the next checked call
    // reports them, and a destructor must not throw.
    (void)cudaFree(ptr);
  }
  void upload(void* device, const void* host, std::size_t bytes) const override {
    check(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice),
          "upload (cudaMemcpy host to device)");
  }
  void download(void* host, const void* device, std::size_t bytes) const override {
    check(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost),
          "download (cudaMemcpy device to host)");
  }
  void copy(void* dst, const void* src, std::size_t bytes) const override {
    if (dst == src || bytes == 0) return;
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice),
          "copy (cudaMemcpy device to device)");
  }
  void fill_zero(void* device, std::size_t bytes) const override {
    if (bytes == 0) return;
    check(cudaMemset(device, 0, bytes), "fill_zero (cudaMemset)");
  }
  void synchronize() const override {
    check(cudaDeviceSynchronize(), "synchronize (kernel fault?)");
  }

  // ---- linear algebra -----------------------------------------------------
  // cuBLAS is column-major: a row-major [m, n] C is a column-major [n, m] C^T,
  // and C^T = op(B)^T op(A)^T, so swap the operands and keep the flags.
  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) const override {
    if (m <= 0 || n <= 0) return;
    check_blas(*blas_,
               blas_->sgemm(handle_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                            trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, a, lda,
                            &beta, c, ldc),
               "sgemm");
  }
  void matmul_forward(float* out, const float* inp, const float* weight, int rows, int in,
                      int out_dim, bool accumulate) const override {
    gemm(false, true, rows, out_dim, in, 1.0f, inp, in, weight, in, accumulate ? 1.0f : 0.0f, out,
         out_dim);
  }
  void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                       const float* weight, int rows, int in, int out_dim) const override {
    if (dinp != nullptr)
      gemm(false, false, rows, in, out_dim, 1.0f, dout, out_dim, weight, in, 0.0f, dinp, in);
    if (dweight != nullptr)
      gemm(true, false, out_dim, in, rows, 1.0f, dout, out_dim, inp, in, 1.0f, dweight, in);
  }

  // ---- elementwise and row ops -------------------------------------------
  void add_inplace(float* out, const float* a, std::size_t n) const override {
    check(cuda::add_inplace(out, a, n), "add_inplace");
  }
  void scale_inplace(float* x, std::size_t n, float factor) const override {
    check(cuda::scale_inplace(x, n, factor), "scale_inplace");
  }
  double sum_squares(const float* x, std::size_t n) const override {
    // Per-call scratch keeps the op stateless (thread-safe); it runs once per
    // step (gradient clipping), so the allocation does not matter.
    DeviceBuffer scratch(*this, (cuda::kSumSquaresBlocks + 1) * sizeof(double));
    double* partial = static_cast<double*>(scratch.data());
    double* result = partial + cuda::kSumSquaresBlocks;
    check(cuda::sum_squares(result, partial, x, n), "sum_squares");
    double total = 0.0;
    scratch.download(&total, sizeof(double), cuda::kSumSquaresBlocks * sizeof(double));
    return total;
  }

  void embedding_forward(float* out, const std::int32_t* tokens, const float* table, int rows,
                         int dim) const override {
    check(cuda::embedding_forward(out, tokens, table, rows, dim), "embedding_forward");
  }
  void embedding_backward(float* dtable, const float* dout, const std::int32_t* tokens, int rows,
                          int dim) const override {
    check(cuda::embedding_backward(dtable, dout, tokens, rows, dim), "embedding_backward");
  }

  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int rows,
                       int dim, float eps) const override {
    check(cuda::rmsnorm_forward(out, rstd, inp, weight, rows, dim, eps), "rmsnorm_forward");
  }
  void rmsnorm_apply(float* out, const float* rstd, const float* inp, const float* weight, int rows,
                     int dim) const override {
    check(cuda::rmsnorm_apply(out, rstd, inp, weight, rows, dim), "rmsnorm_apply");
  }
  void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                        const float* weight, const float* rstd, int rows, int dim) const override {
    check(cuda::rmsnorm_backward(dinp, dweight, dout, inp, weight, rstd, rows, dim),
          "rmsnorm_backward");
  }

  void rope_forward(float* x, const std::int32_t* positions, int rows, int n_heads, int head_dim,
                    int ld, const float* cos, const float* sin) const override {
    check(cuda::rope_rotate(x, positions, rows, n_heads, head_dim, ld, cos, sin, 1.0f),
          "rope_forward");
  }
  void rope_backward(float* dx, const std::int32_t* positions, int rows, int n_heads, int head_dim,
                     int ld, const float* cos, const float* sin) const override {
    check(cuda::rope_rotate(dx, positions, rows, n_heads, head_dim, ld, cos, sin, -1.0f),
          "rope_backward");
  }

  // One launch per sequence, reusing one scratch sized for the largest: the
  // stream runs them in order, so the reuse is safe.
  void attention_forward(float* out, float* lse, const float* q, std::span<const AttentionSeq> seqs,
                         const AttentionHeads& heads, Workspace& scratch) const override {
    check_workspace(scratch);
    const cuda::AttentionLayout layout = layout_of(heads);
    std::size_t need = 1;
    for (const AttentionSeq& seq : seqs) {
      need =
          std::max(need, cuda::attention_forward_scratch_floats(seq.n_q, heads.n_heads, seq.n_k));
    }
    float* scores = scratch.floats(need);
    for (const AttentionSeq& seq : seqs) {
      check(cuda::attention_forward_seq(out, lse, q, seq.k, seq.v, seq.q_row, seq.n_q, seq.q_pos,
                                        seq.n_k, layout, scores),
            "attention_forward");
    }
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                          const float* lse, const float* q, const float* k, const float* v,
                          const AttentionBatch& batch, const AttentionHeads& heads,
                          Workspace& scratch) const override {
    check_workspace(scratch);
    const cuda::AttentionLayout layout = layout_of(heads);
    const int rows = batch.B * batch.T;
    const int kv_width = heads.n_kv_heads * heads.head_dim;
    // dK and dV are sums over the query heads of each KV head: zero them, then
    // add head by head in a fixed order.
    check(cuda::zero_rows(dk, rows, kv_width, heads.ldk), "attention_backward (zero dk)");
    check(cuda::zero_rows(dv, rows, kv_width, heads.ldv), "attention_backward (zero dv)");
    float* s = scratch.floats(cuda::attention_backward_scratch_floats(batch.T));
    for (int b = 0; b < batch.B; ++b) {
      for (int h = 0; h < heads.n_heads; ++h) {
        check(cuda::attention_backward_head(dq, dk, dv, dout, out, lse, q, k, v, b, batch.T, h,
                                            layout, s),
              "attention_backward");
      }
    }
  }

  void swiglu_forward(float* out, const float* gate_up, int rows, int ff) const override {
    check(cuda::swiglu_forward(out, gate_up, rows, ff), "swiglu_forward");
  }
  void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows,
                       int ff) const override {
    check(cuda::swiglu_backward(dgate_up, dout, gate_up, rows, ff), "swiglu_backward");
  }

  void cross_entropy_forward(float* losses, float* lse, const float* logits,
                             const std::int32_t* targets, int rows, int vocab) const override {
    check(cuda::cross_entropy_forward(losses, lse, logits, targets, rows, vocab),
          "cross_entropy_forward");
  }
  void cross_entropy_backward(float* dlogits, const float* logits, const float* lse,
                              const std::int32_t* targets, int rows, int vocab,
                              float scale) const override {
    check(cuda::cross_entropy_backward(dlogits, logits, lse, targets, rows, vocab, scale),
          "cross_entropy_backward");
  }

  // ---- optimizer ------------------------------------------------------------
  // Scalars computed exactly as src/backend/cpu/optimizer.cpp does (float64
  // powers rounded once), so both backends step with identical constants.
  void adamw_update(float* param, const float* grad, float* m, float* v, const float* decay_mask,
                    std::size_t n, const AdamWHyper& hyper) const override {
    const double t = static_cast<double>(hyper.step);
    const float bias_correction1 = static_cast<float>(1.0 - std::pow(hyper.beta1, t));
    cuda::AdamWScalars s;
    s.beta1 = hyper.beta1;
    s.beta2 = hyper.beta2;
    s.eps = hyper.eps;
    s.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(hyper.beta2, t)));
    s.step_size = hyper.lr / bias_correction1;
    s.decay = hyper.lr * hyper.weight_decay;
    check(cuda::adamw_update(param, grad, m, v, decay_mask, n, s), "adamw_update");
  }

  // ---- interventions ----------------------------------------------------------
  // Row lists are host arrays and short (the positions an intervention
  // touches): one launch per row needs no upload, and a row listed twice is
  // changed twice, in list order, as on the CPU.
  void add_vector_rows(float* x, int dim, std::span<const std::int32_t> rows, const float* vec,
                       float alpha) const override {
    for (const std::int32_t row : rows) {
      check(cuda::add_vector_row(x + static_cast<std::size_t>(row) * dim, vec, dim, alpha),
            "add_vector_rows");
    }
  }
  void project_out_rows(float* x, int dim, std::span<const std::int32_t> rows,
                        const float* unit) const override {
    for (const std::int32_t row : rows) {
      check(cuda::project_out_row(x + static_cast<std::size_t>(row) * dim, unit, dim),
            "project_out_rows");
    }
  }
  void gather_rows(float* host_out, const float* x, int dim,
                   std::span<const std::int32_t> rows) const override {
    const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      download(host_out + i * dim, x + static_cast<std::size_t>(rows[i]) * dim, row_bytes);
    }
  }

 private:
  // A Workspace of another backend would hand host memory to a kernel.
  void check_workspace(const Workspace& scratch) const {
    if (&scratch.backend() != this) {
      throw Error(cat("attention on backend 'cuda' got a Workspace of backend '",
                      scratch.backend().name(),
                      "' (a caller bug: create the Workspace with the backend that runs the op)"));
    }
  }

  const cuda::CublasApi* blas_ = nullptr;
  cublasHandle_t handle_ = nullptr;
};

}  // namespace

namespace {

// A rank of a data-parallel run (mpirun sets OMPI_COMM_WORLD_LOCAL_RANK)
// takes GPU number local_rank of those visible, by narrowing
// CUDA_VISIBLE_DEVICES before the runtime initializes, so every CUDA call of
// every thread of the rank uses that GPU (docs/distributed.md).
// MASQUE_RANK_GPU=0 leaves CUDA_VISIBLE_DEVICES alone (a wrapper script set it).
void select_rank_device() {
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  const char* opt = std::getenv("MASQUE_RANK_GPU");
  if (local == nullptr || (opt != nullptr && std::string(opt) == "0")) return;
  const int rank = std::atoi(local);
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  std::vector<std::string> ids;
  if (visible != nullptr && *visible != '\0') {
    std::string list = visible;
    for (std::size_t begin = 0; begin <= list.size();) {
      const std::size_t end = std::min(list.find(',', begin), list.size());
      if (end > begin) ids.push_back(list.substr(begin, end - begin));
      begin = end + 1;
    }
  }
  const std::string chosen =
      ids.empty() ? std::to_string(rank) : ids[static_cast<std::size_t>(rank) % ids.size()];
  ::setenv("CUDA_VISIBLE_DEVICES", chosen.c_str(), 1);
}

}  // namespace

const Backend& cuda_backend() {
  // Before the first CUDA call of the process.
  static const bool device_chosen = (select_rank_device(), true);
  (void)device_chosen;
  // Constructed on first use; if construction throws (no device), the next
  // call tries again and throws the same explanation.
  static const CudaBackend backend;
  return backend;
}

}  // namespace masque
