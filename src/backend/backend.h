// Backend: the one interface between the model code (decoder block, trainer,
// optimizer, LoRA, inference engine) and a device. It owns device memory
// (DeviceBuffer, RAII), explicit host<->device copies, and the ops the model
// needs as forward/backward pairs. The CPU backend (backend/cpu) is the
// reference; the CUDA backend (backend/cuda) implements the same table.
//
// Conventions, the same on every backend:
// - Pointers passed to ops are device pointers from a DeviceBuffer of this
//   backend (host pointers on a host-addressable backend such as the CPU).
// - Row lists (`rows`, AttentionSeq lists) are small host arrays: they say
//   which rows an op touches and are read by the host before the op runs.
// - Linear weights use Hugging Face's [out, in] layout; matrices are row-major.
// - Every reduction runs in a fixed order: results do not depend on timing,
//   and at a fixed thread count they are bit-identical run to run.
// - Ops are const and keep no state: several threads may call one backend at
//   once, each with its own buffers and Workspace.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/error.h"

namespace masque {

class Backend;

// Device memory owned by one backend, freed on destruction. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const Backend& backend, std::size_t bytes);  // zero-filled
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Typed buffers of `count` elements.
  static DeviceBuffer floats(const Backend& backend, std::size_t count) {
    return DeviceBuffer(backend, count * sizeof(float));
  }
  static DeviceBuffer ints(const Backend& backend, std::size_t count) {
    return DeviceBuffer(backend, count * sizeof(std::int32_t));
  }

  void* data() const { return ptr_; }
  float* f32() const { return static_cast<float*>(ptr_); }
  std::int32_t* i32() const { return static_cast<std::int32_t*>(ptr_); }
  std::size_t bytes() const { return bytes_; }
  std::size_t num_floats() const { return bytes_ / sizeof(float); }
  bool empty() const { return ptr_ == nullptr; }
  const Backend* backend() const { return backend_; }

  // Host <-> device copies of `bytes` at byte `offset`.
  void upload(const void* host, std::size_t bytes, std::size_t offset = 0);
  void download(void* host, std::size_t bytes, std::size_t offset = 0) const;

 private:
  void reset() noexcept;
  void check_range(std::size_t bytes, std::size_t offset) const;
  const Backend* backend_ = nullptr;
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// Caller-owned scratch for ops that need it (attention). Grows on demand and
// never shrinks, so a steady loop allocates nothing. One per thread of work:
// this is what lets two inference engines run at once.
class Workspace {
 public:
  explicit Workspace(const Backend& backend) : backend_(&backend) {}
  float* floats(std::size_t count);  // valid until the next call with a larger count
  const Backend& backend() const { return *backend_; }

 private:
  const Backend* backend_;
  DeviceBuffer buffer_;
};

// Head layout of q|k|v rows for attention. Head h of a row starts at
// h * head_dim; query head h reads KV head h / (n_heads / n_kv_heads).
struct AttentionHeads {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int ldq = 0, ldk = 0, ldv = 0, ldo = 0;  // row strides in floats
};

// One sequence of a (possibly ragged) attention call: its n_q query rows are
// rows [q_row, q_row + n_q) of q and out; its keys and values are rows
// [0, n_k) of k and v (a KV cache, or the training batch's own k and v).
// Query i sits at absolute position q_pos + i and sees keys j <= q_pos + i.
struct AttentionSeq {
  int q_row = 0;
  int n_q = 0;
  int q_pos = 0;
  int n_k = 0;
  const float* k = nullptr;
  const float* v = nullptr;
};

// Training's uniform batch: B sequences of T rows each, k and v inside the
// same rows as q (fused q|k|v), positions 0..T-1.
struct AttentionBatch {
  int B = 0;
  int T = 0;
};

struct AdamWHyper {
  float lr = 0;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0;
  std::int64_t step = 1;  // 1-based step count after this update
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Whether device pointers are host pointers (CPU): callers may then read
  // parameters in place instead of copying them.
  virtual bool host_addressable() const = 0;

  // ---- memory -------------------------------------------------------------
  virtual void* allocate(std::size_t bytes) const = 0;  // zero-filled; throws on failure
  virtual void release(void* ptr) const noexcept = 0;
  virtual void upload(void* device, const void* host, std::size_t bytes) const = 0;
  virtual void download(void* host, const void* device, std::size_t bytes) const = 0;
  virtual void copy(void* dst, const void* src, std::size_t bytes) const = 0;  // device to device
  virtual void fill_zero(void* device, std::size_t bytes) const = 0;
  virtual void synchronize() const {}

  // ---- linear algebra -----------------------------------------------------
  // C [m, n] = alpha * op(A) op(B) + beta * C, row-major, op = transpose when set.
  virtual void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                    int lda, const float* b, int ldb, float beta, float* c, int ldc) const = 0;
  // out [rows, out_dim] (= or += when accumulate) inp [rows, in] @ weight[out_dim, in]^T.
  virtual void matmul_forward(float* out, const float* inp, const float* weight, int rows, int in,
                              int out_dim, bool accumulate) const = 0;
  // dinp = dout @ weight (overwritten; skipped when null); dweight += dout^T @ inp (skipped when
  // null).
  virtual void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                               const float* weight, int rows, int in, int out_dim) const = 0;

  // ---- elementwise and row ops -------------------------------------------
  // out[i] += a[i] (the residual adds).
  virtual void add_inplace(float* out, const float* a, std::size_t n) const = 0;
  virtual void scale_inplace(float* x, std::size_t n, float factor) const = 0;
  // Sum of squares in float64, reduced in a fixed order (gradient clipping).
  virtual double sum_squares(const float* x, std::size_t n) const = 0;

  // tokens [rows] (device int32, validated by the caller), table [vocab, dim].
  virtual void embedding_forward(float* out, const std::int32_t* tokens, const float* table,
                                 int rows, int dim) const = 0;
  virtual void embedding_backward(float* dtable, const float* dout, const std::int32_t* tokens,
                                  int rows, int dim) const = 0;

  // RMSNorm (Hugging Face Llama): out = weight * x / sqrt(mean(x^2) + eps); rstd may be null.
  virtual void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight,
                               int rows, int dim, float eps) const = 0;
  virtual void rmsnorm_apply(float* out, const float* rstd, const float* inp, const float* weight,
                             int rows, int dim) const = 0;
  // dinp += d/dinp (accumulated), dweight += over rows.
  virtual void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                                const float* weight, const float* rstd, int rows,
                                int dim) const = 0;

  // Rotary embedding (rotate_half) in place on `rows` rows of stride ld,
  // n_heads heads each; row r is at position positions[r] (device int32).
  // cos/sin: device tables [max_pos, head_dim / 2].
  virtual void rope_forward(float* x, const std::int32_t* positions, int rows, int n_heads,
                            int head_dim, int ld, const float* cos, const float* sin) const = 0;
  virtual void rope_backward(float* dx, const std::int32_t* positions, int rows, int n_heads,
                             int head_dim, int ld, const float* cos, const float* sin) const = 0;

  // Causal attention over ragged sequences (training, prefill and batched
  // decoding alike). lse (may be null): for each sequence s, [n_heads, s.n_q]
  // at lse + s.q_row * n_heads, the layout attention_backward reads.
  virtual void attention_forward(float* out, float* lse, const float* q,
                                 std::span<const AttentionSeq> seqs, const AttentionHeads& heads,
                                 Workspace& scratch) const = 0;
  // Training's backward on a uniform batch with fused q|k|v rows (the
  // strides in `heads`): dq, dk, dv overwritten; lse as the forward wrote it.
  virtual void attention_backward(float* dq, float* dk, float* dv, const float* dout,
                                  const float* out, const float* lse, const float* q,
                                  const float* k, const float* v, const AttentionBatch& batch,
                                  const AttentionHeads& heads, Workspace& scratch) const = 0;

  // h = silu(gate) * up with gate|up fused in rows of width 2*ff.
  virtual void swiglu_forward(float* out, const float* gate_up, int rows, int ff) const = 0;
  virtual void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows,
                               int ff) const = 0;

  // Fused softmax cross-entropy over the vocabulary; targets -1 are ignored.
  virtual void cross_entropy_forward(float* losses, float* lse, const float* logits,
                                     const std::int32_t* targets, int rows, int vocab) const = 0;
  virtual void cross_entropy_backward(float* dlogits, const float* logits, const float* lse,
                                      const std::int32_t* targets, int rows, int vocab,
                                      float scale) const = 0;
  // Training's LM head fused with the cross-entropy, never holding more than
  // a chunk of rows of the [rows, vocab] logits: x [rows, d] (the final
  // normalized stream), w [vocab, d]; targets: host int32 [rows], -1 =
  // ignored. losses: host [rows] = logsumexp - logit[target] (0 if ignored).
  // Backward when dx is non-null: dx [rows, d] = row_scale[r] * dloss_r/dx_r
  // (overwritten; 0 on ignored rows), dw [vocab, d] += sum_r row_scale[r] *
  // dloss_r/dw; row_scale: host [rows]. The default composes the ops above;
  // the CPU fuses them (backend/cpu/lm_head_loss.h).
  virtual void lm_head_loss(float* losses, float* dx, float* dw, const float* x, const float* w,
                            const std::int32_t* targets, const float* row_scale, int rows, int d,
                            int vocab, Workspace& scratch) const;

  // ---- optimizer ------------------------------------------------------------
  // AdamW in torch.optim.AdamW's order: decay where mask is 1 (mask may be null = all), then Adam.
  virtual void adamw_update(float* param, const float* grad, float* m, float* v,
                            const float* decay_mask, std::size_t n,
                            const AdamWHyper& hyper) const = 0;

  // ---- interventions (rows: host array of row indices) ---------------------
  // x[r] += alpha * vec for each listed row r (rows of width dim).
  virtual void add_vector_rows(float* x, int dim, std::span<const std::int32_t> rows,
                               const float* vec, float alpha) const = 0;
  // x[r] -= (x[r] . u) u for each listed row (u a unit vector). Its own
  // backward: the projection is symmetric, so dx gets the same map.
  virtual void project_out_rows(float* x, int dim, std::span<const std::int32_t> rows,
                                const float* unit) const = 0;
  // host_out [rows.size(), dim] = the listed rows of x (observation).
  virtual void gather_rows(float* host_out, const float* x, int dim,
                           std::span<const std::int32_t> rows) const = 0;
};

// The process-wide CPU backend (stateless; safe to share between threads).
const Backend& cpu_backend();
// The CPU backend with the linear layers' products in bfloat16 and float32
// accumulation (`--dtype bf16`); InputError on a CPU without AVX512_BF16.
const Backend& cpu_bf16_backend();

// ---- DeviceBuffer and Workspace (inline: they only call the backend) -----
inline DeviceBuffer::DeviceBuffer(const Backend& backend, std::size_t bytes)
    : backend_(&backend), ptr_(bytes > 0 ? backend.allocate(bytes) : nullptr), bytes_(bytes) {}
inline DeviceBuffer::~DeviceBuffer() { reset(); }
inline DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : backend_(other.backend_), ptr_(other.ptr_), bytes_(other.bytes_) {
  other.ptr_ = nullptr;
  other.bytes_ = 0;
}
inline DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    backend_ = other.backend_;
    ptr_ = other.ptr_;
    bytes_ = other.bytes_;
    other.ptr_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}
inline void DeviceBuffer::reset() noexcept {
  if (ptr_ != nullptr) backend_->release(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}
inline void DeviceBuffer::check_range(std::size_t bytes, std::size_t offset) const {
  if (offset > bytes_ || bytes > bytes_ - offset) {
    throw Error(cat("device buffer copy of ", bytes, " bytes at offset ", offset, " overruns its ",
                    bytes_, " bytes (a bug in masque: please report it)"));
  }
}
inline void DeviceBuffer::upload(const void* host, std::size_t bytes, std::size_t offset) {
  check_range(bytes, offset);
  if (bytes > 0) backend_->upload(static_cast<char*>(ptr_) + offset, host, bytes);
}
inline void DeviceBuffer::download(void* host, std::size_t bytes, std::size_t offset) const {
  check_range(bytes, offset);
  if (bytes > 0) backend_->download(host, static_cast<const char*>(ptr_) + offset, bytes);
}
inline float* Workspace::floats(std::size_t count) {
  if (buffer_.num_floats() < count) buffer_ = DeviceBuffer::floats(*backend_, count);
  return buffer_.f32();
}

// The composed LM head loss (see the declaration): chunks of ~4M logits
// through matmul_forward, cross_entropy_forward/backward (one backward call
// per run of rows with equal row_scale) and matmul_backward.
inline void Backend::lm_head_loss(float* losses, float* dx, float* dw, const float* x,
                                  const float* w, const std::int32_t* targets,
                                  const float* row_scale, int rows, int d, int vocab,
                                  Workspace& scratch) const {
  const std::size_t V = static_cast<std::size_t>(vocab);
  const int chunk = static_cast<int>(std::clamp<std::size_t>((std::size_t{1} << 22) / V, 64, 1024));
  float* logits = scratch.floats(static_cast<std::size_t>(chunk) * (V + 3));
  float* chunk_losses = logits + static_cast<std::size_t>(chunk) * V;
  float* lse = chunk_losses + chunk;
  auto* chunk_targets = reinterpret_cast<std::int32_t*>(lse + chunk);
  for (int r0 = 0; r0 < rows; r0 += chunk) {
    const int count = std::min(chunk, rows - r0);
    const float* xc = x + static_cast<std::size_t>(r0) * d;
    float* dxc = dx == nullptr ? nullptr : dx + static_cast<std::size_t>(r0) * d;
    if (std::all_of(targets + r0, targets + r0 + count, [](std::int32_t t) { return t < 0; })) {
      std::fill_n(losses + r0, count, 0.0f);  // fully masked (an SFT prompt): no work
      if (dxc != nullptr) fill_zero(dxc, sizeof(float) * static_cast<std::size_t>(count) * d);
      continue;
    }
    upload(chunk_targets, targets + r0, sizeof(std::int32_t) * count);
    matmul_forward(logits, xc, w, count, d, vocab, false);
    cross_entropy_forward(chunk_losses, lse, logits, chunk_targets, count, vocab);
    download(losses + r0, chunk_losses, sizeof(float) * count);
    if (dxc == nullptr) continue;
    for (int a = 0; a < count;) {
      int b = a + 1;
      while (b < count && row_scale[r0 + b] == row_scale[r0 + a]) ++b;
      float* rows_a = logits + static_cast<std::size_t>(a) * V;
      cross_entropy_backward(rows_a, rows_a, lse + a, chunk_targets + a, b - a, vocab,
                             row_scale[r0 + a]);
      a = b;
    }
    matmul_backward(dxc, dw, logits, xc, w, count, d, vocab);
  }
}

// The backend new models are created on unless told otherwise: the CPU,
// or what the CLI's --backend chose. Set once at start-up.
const Backend& default_backend();
void set_default_backend(const Backend& backend);

// Backend by name: "cpu", or "cuda" where masque was built with CUDA and a
// device is present. InputError naming the alternatives otherwise.
const Backend& backend_by_name(const std::string& name);

}  // namespace masque
