// CpuBackend: the reference Backend. Device pointers are host pointers; each
// op delegates to the float32 kernels of this folder, so the kernels' own
// tests (against float64 references) cover the backend's math.
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/backend.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/bf16_gemm.h"
#include "backend/cpu/cross_entropy.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/lm_head_loss.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/optimizer.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/row_ops.h"
#include "backend/cpu/swiglu.h"
#include "core/error.h"
#include "core/threads.h"

namespace masque {
namespace {

class CpuBackend final : public Backend {
 public:
  // bf16: the linear layers' products in bfloat16 (bf16_gemm.h, `--dtype bf16`).
  explicit CpuBackend(bool bf16 = false) : bf16_(bf16) {}
  std::string name() const override { return bf16_ ? "cpu-bf16" : "cpu"; }
  bool host_addressable() const override { return true; }

  void* allocate(std::size_t bytes) const override {
    // 64-byte alignment: whole cache lines and aligned AVX-512 loads.
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p == nullptr) {
      throw Error(cat("out of memory allocating ", rounded,
                      " bytes (use a smaller model, batch or context)"));
    }
    std::memset(p, 0, rounded);
    return p;
  }
  void release(void* ptr) const noexcept override { std::free(ptr); }
  void upload(void* device, const void* host, std::size_t bytes) const override {
    if (device != host) std::memcpy(device, host, bytes);
  }
  void download(void* host, const void* device, std::size_t bytes) const override {
    if (device != host) std::memcpy(host, device, bytes);
  }
  void copy(void* dst, const void* src, std::size_t bytes) const override {
    if (dst != src) std::memmove(dst, src, bytes);
  }
  void fill_zero(void* device, std::size_t bytes) const override { std::memset(device, 0, bytes); }

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) const override {
    cpu::sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void matmul_forward(float* out, const float* inp, const float* weight, int rows, int in,
                      int out_dim, bool accumulate) const override {
    if (use_bf16(in, out_dim))
      return cpu::bf16_matmul_forward(out, inp, weight, rows, in, out_dim, accumulate);
    if (accumulate) {
      cpu::matmul_forward_add(out, inp, weight, rows, in, out_dim);
    } else {
      cpu::matmul_forward(out, inp, weight, rows, in, out_dim);
    }
  }
  void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                       const float* weight, int rows, int in, int out_dim) const override {
    if (use_bf16(in, out_dim))
      return cpu::bf16_matmul_backward(dinp, dweight, dout, inp, weight, rows, in, out_dim);
    cpu::matmul_backward(dinp, dweight, dout, inp, weight, rows, in, out_dim);
  }

  void add_inplace(float* out, const float* a, std::size_t n) const override {
    cpu::add_inplace(out, a, n);
  }
  void scale_inplace(float* x, std::size_t n, float factor) const override {
    cpu::scale_inplace(x, n, factor);
  }
  double sum_squares(const float* x, std::size_t n) const override {
    return cpu::sum_squares(x, n);
  }

  void embedding_forward(float* out, const std::int32_t* tokens, const float* table, int rows,
                         int dim) const override {
    cpu::embedding_forward(out, tokens, table, rows, dim);
  }
  void embedding_backward(float* dtable, const float* dout, const std::int32_t* tokens, int rows,
                          int dim) const override {
    cpu::embedding_backward(dtable, dout, tokens, rows, dim);
  }

  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int rows,
                       int dim, float eps) const override {
    cpu::rmsnorm_forward(out, rstd, inp, weight, rows, dim, eps);
  }
  void rmsnorm_apply(float* out, const float* rstd, const float* inp, const float* weight, int rows,
                     int dim) const override {
    cpu::rmsnorm_apply(out, rstd, inp, weight, rows, dim);
  }
  void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                        const float* weight, const float* rstd, int rows, int dim) const override {
    cpu::rmsnorm_backward(dinp, dweight, dout, inp, weight, rstd, rows, dim);
  }

  void rope_forward(float* x, const std::int32_t* positions, int rows, int n_heads, int head_dim,
                    int ld, const float* cos, const float* sin) const override {
    cpu::rope_forward_at(x, positions, rows, n_heads, head_dim, ld, cos, sin);
  }
  void rope_backward(float* dx, const std::int32_t* positions, int rows, int n_heads, int head_dim,
                     int ld, const float* cos, const float* sin) const override {
    cpu::rope_backward_at(dx, positions, rows, n_heads, head_dim, ld, cos, sin);
  }

  void attention_forward(float* out, float* lse, const float* q, std::span<const AttentionSeq> seqs,
                         const AttentionHeads& heads, Workspace& scratch) const override {
    const int threads = num_threads();
    const int n = static_cast<int>(seqs.size());
    float* s = scratch.floats(
        cpu::attention_seqs_scratch_floats(seqs.data(), n, heads, cpu::kAttentionBlock, threads));
    cpu::attention_forward_seqs(out, lse, q, seqs.data(), n, heads, cpu::kAttentionBlock, s,
                                threads);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                          const float* lse, const float* q, const float* k, const float* v,
                          const AttentionBatch& batch, const AttentionHeads& heads,
                          Workspace& scratch) const override {
    cpu::AttentionDims dims;
    dims.B = batch.B;
    dims.Tq = dims.Tk = batch.T;
    dims.n_heads = heads.n_heads;
    dims.n_kv_heads = heads.n_kv_heads;
    dims.head_dim = heads.head_dim;
    dims.ldq = heads.ldq;
    dims.ldk = heads.ldk;
    dims.ldv = heads.ldv;
    dims.ldo = heads.ldo;
    const int threads = num_threads();
    float* s = scratch.floats(cpu::attention_scratch_floats(dims, threads));
    cpu::attention_backward(dq, dk, dv, dout, out, lse, q, k, v, dims, s, threads);
  }

  void swiglu_forward(float* out, const float* gate_up, int rows, int ff) const override {
    cpu::swiglu_forward(out, gate_up, rows, ff);
  }
  void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows,
                       int ff) const override {
    cpu::swiglu_backward(dgate_up, dout, gate_up, rows, ff);
  }

  void cross_entropy_forward(float* losses, float* lse, const float* logits,
                             const std::int32_t* targets, int rows, int vocab) const override {
    cpu::softmax_cross_entropy_forward(losses, lse, logits, targets, rows, vocab);
  }
  void cross_entropy_backward(float* dlogits, const float* logits, const float* lse,
                              const std::int32_t* targets, int rows, int vocab,
                              float scale) const override {
    cpu::softmax_cross_entropy_backward(dlogits, logits, lse, targets, rows, vocab, scale);
  }
  void lm_head_loss(float* losses, float* dx, float* dw, const float* x, const float* w,
                    const std::int32_t* targets, const float* row_scale, int rows, int d, int vocab,
                    Workspace& scratch) const override {
    // MASQUE_LM_HEAD=composed: the unfused default, for benchmarks comparing the two.
    static const bool composed = [] {
      const char* v = std::getenv("MASQUE_LM_HEAD");
      return v != nullptr && std::strcmp(v, "composed") == 0;
    }();
    if (composed)
      return Backend::lm_head_loss(losses, dx, dw, x, w, targets, row_scale, rows, d, vocab,
                                   scratch);
    const cpu::HeadPrecision precision =
        use_bf16(d, vocab) ? cpu::HeadPrecision::kBf16 : cpu::HeadPrecision::kF32;
    cpu::lm_head_loss(losses, dx, dw, x, w, targets, row_scale, rows, d, vocab, precision,
                      scratch.floats(cpu::lm_head_scratch_floats(d, vocab, precision)));
  }

  void adamw_update(float* param, const float* grad, float* m, float* v, const float* decay_mask,
                    std::size_t n, const AdamWHyper& h) const override {
    cpu::adamw_update(param, grad, m, v, decay_mask, n, h.lr, h.beta1, h.beta2, h.eps,
                      h.weight_decay, h.step);
  }

  void add_vector_rows(float* x, int dim, std::span<const std::int32_t> rows, const float* vec,
                       float alpha) const override {
    cpu::add_vector_rows(x, dim, rows.data(), rows.size(), vec, alpha);
  }
  void project_out_rows(float* x, int dim, std::span<const std::int32_t> rows,
                        const float* unit) const override {
    cpu::project_out_rows(x, dim, rows.data(), rows.size(), unit);
  }
  void gather_rows(float* host_out, const float* x, int dim,
                   std::span<const std::int32_t> rows) const override {
    cpu::gather_rows(host_out, x, dim, rows.data(), rows.size());
  }

 private:
  // Rank-1 products (bias adds, their gradients) stay float32: bf16 buys no
  // speed there and would round the biases.
  bool use_bf16(int in, int out_dim) const { return bf16_ && in >= 16 && out_dim >= 16; }
  bool bf16_;
};

}  // namespace

const Backend& cpu_backend() {
  static const CpuBackend backend;
  return backend;
}

const Backend& cpu_bf16_backend() {
  cpu::resolve_bf16_kernel(cpu::Bf16Kernel::kAuto);  // InputError naming the missing CPU feature
  static const CpuBackend backend(true);
  return backend;
}

}  // namespace masque
