// CudaBackend against the CPU backend (the reference): every op of the
// Backend table on random inputs, shapes that are not multiples of a warp or
// block, row strides wider than the data, and the aliasing the model relies
// on. Each op also runs twice on the GPU and must give bit-identical results
// (the determinism backend.h promises). Skips itself, saying why, where no
// CUDA device is present (CI compiles this test but cannot run it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/rope.h"
#include "core/error.h"
#include "core/rng.h"

namespace masque {
namespace {

std::vector<float> random_floats(std::size_t n, Rng& rng, float scale = 1.0f) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.normal()) * scale;
  return v;
}

std::vector<std::int32_t> random_ints(std::size_t n, Rng& rng, int below) {
  std::vector<std::int32_t> v(n);
  for (std::int32_t& x : v)
    x = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(below)));
  return v;
}

// One tensor on both backends with the same contents.
template <class T>
struct Twin {
  Twin(const Backend& device, const std::vector<T>& host)
      : cpu(cpu_backend(), host.size() * sizeof(T)),
        gpu(device, host.size() * sizeof(T)),
        size(host.size()) {
    cpu.upload(host.data(), host.size() * sizeof(T));
    gpu.upload(host.data(), host.size() * sizeof(T));
  }
  T* c() const { return static_cast<T*>(cpu.data()); }
  T* g() const { return static_cast<T*>(gpu.data()); }
  std::vector<T> cpu_values() const { return read(cpu); }
  std::vector<T> gpu_values() const { return read(gpu); }
  std::vector<T> read(const DeviceBuffer& buffer) const {
    std::vector<T> out(size);
    buffer.download(out.data(), size * sizeof(T));
    return out;
  }
  DeviceBuffer cpu;
  DeviceBuffer gpu;
  std::size_t size;
};
using Floats = Twin<float>;
using Ints = Twin<std::int32_t>;

// max |gpu - cpu| / max |cpu| (floored), like the CPU op tests' relative error.
double relative_error(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  double num = 0.0;
  double den = 1e-12;
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(gpu[i]) - cpu[i]));
    den = std::max(den, static_cast<double>(std::abs(cpu[i])));
  }
  return num / den;
}

void expect_close(const std::string& what, const Floats& t, double tolerance) {
  const std::vector<float> gpu = t.gpu_values();
  const std::vector<float> cpu = t.cpu_values();
  for (float x : gpu) ASSERT_TRUE(std::isfinite(x)) << what << ": non-finite GPU value";
  EXPECT_LT(relative_error(gpu, cpu), tolerance) << what;
}

void expect_bitwise(const std::string& what, const std::vector<float>& a,
                    const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
      << what << ": GPU run not reproducible";
}

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      gpu_ = &backend_by_name("cuda");
    } catch (const InputError& e) {
      GTEST_SKIP() << "CUDA backend not testable here: " << e.what();
    }
  }
  const Backend& gpu() const { return *gpu_; }
  const Backend& cpu() const { return cpu_backend(); }

  const Backend* gpu_ = nullptr;
};

TEST_F(CudaBackendTest, MemoryIsZeroedAndCopiesRoundTrip) {
  EXPECT_EQ(gpu().name(), "cuda");
  EXPECT_FALSE(gpu().host_addressable());
  const std::size_t n = 1000003;
  DeviceBuffer a = DeviceBuffer::floats(gpu(), n);
  std::vector<float> host(n, 1.0f);
  a.download(host.data(), n * sizeof(float));
  EXPECT_TRUE(std::all_of(host.begin(), host.end(), [](float x) { return x == 0.0f; }));
  Rng rng(1);
  const std::vector<float> values = random_floats(n, rng);
  a.upload(values.data(), n * sizeof(float));
  DeviceBuffer b = DeviceBuffer::floats(gpu(), n);
  gpu().copy(b.data(), a.data(), n * sizeof(float));
  std::vector<float> back(n);
  b.download(back.data(), n * sizeof(float));
  expect_bitwise("copy", back, values);
  gpu().fill_zero(b.f32() + 10, 5 * sizeof(float));
  b.download(back.data(), n * sizeof(float));
  EXPECT_EQ(back[9], values[9]);
  EXPECT_EQ(back[10], 0.0f);
  EXPECT_EQ(back[14], 0.0f);
  EXPECT_EQ(back[15], values[15]);
  gpu().synchronize();
}

TEST_F(CudaBackendTest, GemmAllTransposes) {
  Rng rng(2);
  const int m = 37, n = 29, k = 53, pad = 3;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      // Leading dimensions wider than the rows, as when multiplying heads of fused rows.
      const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
      Floats a(gpu(), random_floats(static_cast<std::size_t>(ta ? k : m) * lda, rng));
      Floats b(gpu(), random_floats(static_cast<std::size_t>(tb ? n : k) * ldb, rng));
      Floats c(gpu(), random_floats(static_cast<std::size_t>(m) * ldc, rng));
      for (const Backend* be : {&cpu(), &gpu()}) {
        const bool on_gpu = be == &gpu();
        be->gemm(ta, tb, m, n, k, 0.7f, on_gpu ? a.g() : a.c(), lda, on_gpu ? b.g() : b.c(), ldb,
                 0.3f, on_gpu ? c.g() : c.c(), ldc);
      }
      expect_close("gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb), c, 1e-5);
    }
  }
}

TEST_F(CudaBackendTest, MatmulForwardAndBackward) {
  Rng rng(3);
  const int rows = 45, in = 67, out = 33;
  Floats x(gpu(), random_floats(static_cast<std::size_t>(rows) * in, rng));
  Floats w(gpu(), random_floats(static_cast<std::size_t>(out) * in, rng, 0.2f));
  Floats y(gpu(), random_floats(static_cast<std::size_t>(rows) * out, rng));
  Floats y_acc(gpu(), random_floats(static_cast<std::size_t>(rows) * out, rng));
  Floats dy(gpu(), random_floats(static_cast<std::size_t>(rows) * out, rng));
  Floats dx(gpu(), random_floats(static_cast<std::size_t>(rows) * in, rng));
  Floats dw(gpu(), random_floats(static_cast<std::size_t>(out) * in, rng));
  cpu().matmul_forward(y.c(), x.c(), w.c(), rows, in, out, false);
  gpu().matmul_forward(y.g(), x.g(), w.g(), rows, in, out, false);
  cpu().matmul_forward(y_acc.c(), x.c(), w.c(), rows, in, out, true);
  gpu().matmul_forward(y_acc.g(), x.g(), w.g(), rows, in, out, true);
  cpu().matmul_backward(dx.c(), dw.c(), dy.c(), x.c(), w.c(), rows, in, out);
  gpu().matmul_backward(dx.g(), dw.g(), dy.g(), x.g(), w.g(), rows, in, out);
  expect_close("matmul_forward", y, 1e-5);
  expect_close("matmul_forward accumulate", y_acc, 1e-5);
  expect_close("matmul_backward dinp", dx, 1e-5);
  expect_close("matmul_backward dweight", dw, 1e-5);
}

TEST_F(CudaBackendTest, AddScaleAndSumSquares) {
  Rng rng(4);
  const std::size_t n = 300007;
  Floats out(gpu(), random_floats(n, rng));
  Floats a(gpu(), random_floats(n, rng));
  cpu().add_inplace(out.c(), a.c(), n);
  gpu().add_inplace(out.g(), a.g(), n);
  expect_close("add_inplace", out, 1e-7);
  cpu().scale_inplace(out.c(), n, -0.37f);
  gpu().scale_inplace(out.g(), n, -0.37f);
  expect_close("scale_inplace", out, 1e-7);
  const double ref = cpu().sum_squares(out.c(), n);
  const double first = gpu().sum_squares(out.g(), n);
  EXPECT_NEAR(first, ref, 1e-12 * ref);
  EXPECT_EQ(first, gpu().sum_squares(out.g(), n)) << "sum_squares not reproducible";
  EXPECT_EQ(gpu().sum_squares(out.g(), 0), 0.0);
}

TEST_F(CudaBackendTest, EmbeddingForwardAndBackward) {
  Rng rng(5);
  const int vocab = 50, rows = 300, dim = 77;  // 300 rows over 50 ids: many repeats
  Ints tokens(gpu(), random_ints(rows, rng, vocab));
  Floats table(gpu(), random_floats(static_cast<std::size_t>(vocab) * dim, rng));
  Floats out(gpu(), std::vector<float>(static_cast<std::size_t>(rows) * dim));
  cpu().embedding_forward(out.c(), tokens.c(), table.c(), rows, dim);
  gpu().embedding_forward(out.g(), tokens.g(), table.g(), rows, dim);
  expect_bitwise("embedding_forward", out.gpu_values(), out.cpu_values());
  // Backward accumulates onto an existing gradient. Both backends add each
  // column's rows in row order with plain additions: identical bits.
  const std::vector<float> start = random_floats(static_cast<std::size_t>(vocab) * dim, rng);
  Floats dout(gpu(), random_floats(static_cast<std::size_t>(rows) * dim, rng));
  Floats dtable(gpu(), start);
  cpu().embedding_backward(dtable.c(), dout.c(), tokens.c(), rows, dim);
  gpu().embedding_backward(dtable.g(), dout.g(), tokens.g(), rows, dim);
  expect_bitwise("embedding_backward", dtable.gpu_values(), dtable.cpu_values());
}

TEST_F(CudaBackendTest, RmsnormForwardApplyBackward) {
  Rng rng(6);
  const int rows = 41, dim = 300;  // dim > one block: the strided loops wrap
  const float eps = 1e-5f;
  Floats x(gpu(), random_floats(static_cast<std::size_t>(rows) * dim, rng, 2.0f));
  Floats w(gpu(), random_floats(dim, rng));
  Floats y(gpu(), std::vector<float>(static_cast<std::size_t>(rows) * dim));
  Floats y2(gpu(), std::vector<float>(static_cast<std::size_t>(rows) * dim));
  Floats rstd(gpu(), std::vector<float>(rows));
  cpu().rmsnorm_forward(y.c(), rstd.c(), x.c(), w.c(), rows, dim, eps);
  gpu().rmsnorm_forward(y.g(), rstd.g(), x.g(), w.g(), rows, dim, eps);
  expect_close("rmsnorm_forward out", y, 2e-6);
  expect_close("rmsnorm_forward rstd", rstd, 2e-6);
  cpu().rmsnorm_apply(y2.c(), rstd.c(), x.c(), w.c(), rows, dim);
  gpu().rmsnorm_apply(y2.g(), rstd.g(), x.g(), w.g(), rows, dim);
  expect_close("rmsnorm_apply", y2, 2e-6);

  const std::vector<float> dx0 = random_floats(static_cast<std::size_t>(rows) * dim, rng);
  const std::vector<float> dw0 = random_floats(dim, rng);
  Floats dy(gpu(), random_floats(static_cast<std::size_t>(rows) * dim, rng));
  Floats dx(gpu(), dx0);
  Floats dw(gpu(), dw0);
  cpu().rmsnorm_backward(dx.c(), dw.c(), dy.c(), x.c(), w.c(), rstd.c(), rows, dim);
  gpu().rmsnorm_backward(dx.g(), dw.g(), dy.g(), x.g(), w.g(), rstd.g(), rows, dim);
  expect_close("rmsnorm_backward dinp", dx, 1e-5);
  expect_close("rmsnorm_backward dweight", dw, 1e-5);
  // Same inputs again on the GPU: same bits.
  Floats dx_again(gpu(), dx0);
  Floats dw_again(gpu(), dw0);
  gpu().rmsnorm_backward(dx_again.g(), dw_again.g(), dy.g(), x.g(), w.g(), rstd.g(), rows, dim);
  expect_bitwise("rmsnorm_backward dinp", dx_again.gpu_values(), dx.gpu_values());
  expect_bitwise("rmsnorm_backward dweight", dw_again.gpu_values(), dw.gpu_values());
}

TEST_F(CudaBackendTest, RopeForwardAndBackwardAtPositions) {
  Rng rng(7);
  const int rows = 23, n_heads = 3, head_dim = 16, ld = n_heads * head_dim + 7, max_pos = 64;
  const cpu::RopeTables tables = cpu::make_rope_tables(max_pos, head_dim, 10000.0);
  Floats cos(gpu(), tables.cos);
  Floats sin(gpu(), tables.sin);
  Ints positions(gpu(), random_ints(rows, rng, max_pos));
  Floats x(gpu(), random_floats(static_cast<std::size_t>(rows) * ld, rng));
  const std::vector<float> x0 = x.gpu_values();
  cpu().rope_forward(x.c(), positions.c(), rows, n_heads, head_dim, ld, cos.c(), sin.c());
  gpu().rope_forward(x.g(), positions.g(), rows, n_heads, head_dim, ld, cos.g(), sin.g());
  expect_close("rope_forward", x, 1e-6);
  const std::vector<float> rotated = x.gpu_values();
  for (int r = 0; r < rows; ++r) {  // the 7 floats past the heads are not touched
    for (int i = n_heads * head_dim; i < ld; ++i) {
      EXPECT_EQ(rotated[static_cast<std::size_t>(r) * ld + i],
                x0[static_cast<std::size_t>(r) * ld + i]);
    }
  }
  cpu().rope_backward(x.c(), positions.c(), rows, n_heads, head_dim, ld, cos.c(), sin.c());
  gpu().rope_backward(x.g(), positions.g(), rows, n_heads, head_dim, ld, cos.g(), sin.g());
  expect_close("rope_backward", x, 1e-6);
  EXPECT_LT(relative_error(x.gpu_values(), x0), 1e-5) << "backward is the inverse rotation";
}

TEST_F(CudaBackendTest, AttentionForwardRaggedSequences) {
  Rng rng(8);
  AttentionHeads heads;
  heads.n_heads = 4;
  heads.n_kv_heads = 2;  // grouped-query: two query heads per KV head
  heads.head_dim = 12;
  heads.ldq = heads.n_heads * heads.head_dim + 5;
  heads.ldk = heads.ldv = 2 * heads.n_kv_heads * heads.head_dim;  // fused k|v cache rows
  heads.ldo = heads.n_heads * heads.head_dim;
  // Training-like, prefill after a cached prefix, one decode step, a long
  // cache (more keys than one block of threads), and keys cut at n_k.
  struct Shape {
    int n_q, q_pos, n_k;
  };
  const std::vector<Shape> shapes = {
      {19, 0, 19}, {5, 11, 16}, {1, 30, 31}, {3, 297, 300}, {6, 4, 7}};
  int total_q = 0;
  for (const Shape& s : shapes) total_q += s.n_q;
  Floats q(gpu(), random_floats(static_cast<std::size_t>(total_q) * heads.ldq, rng));
  std::vector<Floats> caches;
  for (const Shape& s : shapes)
    caches.emplace_back(gpu(), random_floats(static_cast<std::size_t>(s.n_k) * heads.ldk, rng));
  std::vector<AttentionSeq> seqs_cpu, seqs_gpu;
  int q_row = 0;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    const int v_off = heads.n_kv_heads * heads.head_dim;
    seqs_cpu.push_back({q_row, s.n_q, s.q_pos, s.n_k, caches[i].c(), caches[i].c() + v_off});
    seqs_gpu.push_back({q_row, s.n_q, s.q_pos, s.n_k, caches[i].g(), caches[i].g() + v_off});
    q_row += s.n_q;
  }
  Floats out(gpu(), std::vector<float>(static_cast<std::size_t>(total_q) * heads.ldo));
  Floats lse(gpu(), std::vector<float>(static_cast<std::size_t>(total_q) * heads.n_heads));
  Workspace ws_cpu(cpu()), ws_gpu(gpu());
  cpu().attention_forward(out.c(), lse.c(), q.c(), seqs_cpu, heads, ws_cpu);
  gpu().attention_forward(out.g(), lse.g(), q.g(), seqs_gpu, heads, ws_gpu);
  expect_close("attention_forward out", out, 2e-5);
  expect_close("attention_forward lse", lse, 2e-6);
  const std::vector<float> first = out.gpu_values();
  gpu().attention_forward(out.g(), nullptr, q.g(), seqs_gpu, heads, ws_gpu);  // lse is optional
  expect_bitwise("attention_forward", out.gpu_values(), first);
}

TEST_F(CudaBackendTest, AttentionBackwardUniformBatch) {
  Rng rng(9);
  AttentionHeads heads;
  heads.n_heads = 6;
  heads.n_kv_heads = 2;
  heads.head_dim = 8;
  const int width = (heads.n_heads + 2 * heads.n_kv_heads) * heads.head_dim;  // fused q|k|v rows
  heads.ldq = heads.ldk = heads.ldv = width;
  heads.ldo = heads.n_heads * heads.head_dim;
  AttentionBatch batch;
  batch.B = 3;
  batch.T = 37;
  const int rows = batch.B * batch.T;
  const int k_off = heads.n_heads * heads.head_dim;
  const int v_off = k_off + heads.n_kv_heads * heads.head_dim;
  Floats qkv(gpu(), random_floats(static_cast<std::size_t>(rows) * width, rng));
  std::vector<AttentionSeq> seqs_cpu, seqs_gpu;
  for (int b = 0; b < batch.B; ++b) {
    const std::size_t row0 = static_cast<std::size_t>(b) * batch.T * width;
    seqs_cpu.push_back(
        {b * batch.T, batch.T, 0, batch.T, qkv.c() + row0 + k_off, qkv.c() + row0 + v_off});
    seqs_gpu.push_back(
        {b * batch.T, batch.T, 0, batch.T, qkv.g() + row0 + k_off, qkv.g() + row0 + v_off});
  }
  Floats out(gpu(), std::vector<float>(static_cast<std::size_t>(rows) * heads.ldo));
  Floats lse(gpu(), std::vector<float>(static_cast<std::size_t>(rows) * heads.n_heads));
  Workspace ws_cpu(cpu()), ws_gpu(gpu());
  // Each backend's backward reads its own forward's out and lse.
  cpu().attention_forward(out.c(), lse.c(), qkv.c(), seqs_cpu, heads, ws_cpu);
  gpu().attention_forward(out.g(), lse.g(), qkv.g(), seqs_gpu, heads, ws_gpu);
  Floats dout(gpu(), random_floats(static_cast<std::size_t>(rows) * heads.ldo, rng));
  // dq|dk|dv fused like q|k|v and prefilled with garbage: all of it is overwritten.
  const std::vector<float> garbage =
      random_floats(static_cast<std::size_t>(rows) * width, rng, 100.0f);
  Floats dqkv(gpu(), garbage);
  cpu().attention_backward(dqkv.c(), dqkv.c() + k_off, dqkv.c() + v_off, dout.c(), out.c(), lse.c(),
                           qkv.c(), qkv.c() + k_off, qkv.c() + v_off, batch, heads, ws_cpu);
  gpu().attention_backward(dqkv.g(), dqkv.g() + k_off, dqkv.g() + v_off, dout.g(), out.g(), lse.g(),
                           qkv.g(), qkv.g() + k_off, qkv.g() + v_off, batch, heads, ws_gpu);
  expect_close("attention_backward dq|dk|dv", dqkv, 5e-5);
  Floats again(gpu(), garbage);
  gpu().attention_backward(again.g(), again.g() + k_off, again.g() + v_off, dout.g(), out.g(),
                           lse.g(), qkv.g(), qkv.g() + k_off, qkv.g() + v_off, batch, heads,
                           ws_gpu);
  expect_bitwise("attention_backward", again.gpu_values(), dqkv.gpu_values());
}

TEST_F(CudaBackendTest, SwigluForwardAndBackwardInPlace) {
  Rng rng(10);
  const int rows = 19, ff = 301;
  Floats gate_up(gpu(), random_floats(static_cast<std::size_t>(rows) * 2 * ff, rng, 3.0f));
  Floats h(gpu(), std::vector<float>(static_cast<std::size_t>(rows) * ff));
  cpu().swiglu_forward(h.c(), gate_up.c(), rows, ff);
  gpu().swiglu_forward(h.g(), gate_up.g(), rows, ff);
  expect_close("swiglu_forward", h, 1e-6);
  Floats dh(gpu(), random_floats(static_cast<std::size_t>(rows) * ff, rng));
  // The model writes the gradient over the forward's buffer.
  cpu().swiglu_backward(gate_up.c(), dh.c(), gate_up.c(), rows, ff);
  gpu().swiglu_backward(gate_up.g(), dh.g(), gate_up.g(), rows, ff);
  expect_close("swiglu_backward (aliased)", gate_up, 1e-6);
}

TEST_F(CudaBackendTest, CrossEntropyWithIgnoredTargets) {
  Rng rng(11);
  const int rows = 17, vocab = 1001;
  std::vector<std::int32_t> t = random_ints(rows, rng, vocab);
  t[3] = -1;
  t[16] = -1;
  Ints targets(gpu(), t);
  std::vector<float> logits_host = random_floats(static_cast<std::size_t>(rows) * vocab, rng, 4.0f);
  logits_host[5] = 80.0f;  // a large logit: the max shift must keep exp finite
  Floats logits(gpu(), logits_host);
  Floats losses(gpu(), std::vector<float>(rows, 1.0f));
  Floats lse(gpu(), std::vector<float>(rows));
  cpu().cross_entropy_forward(losses.c(), lse.c(), logits.c(), targets.c(), rows, vocab);
  gpu().cross_entropy_forward(losses.g(), lse.g(), logits.g(), targets.g(), rows, vocab);
  expect_close("cross_entropy_forward losses", losses, 1e-5);
  expect_close("cross_entropy_forward lse", lse, 1e-6);
  EXPECT_EQ(losses.gpu_values()[3], 0.0f);
  // In place, as the model does (dlogits over logits).
  const float scale = 1.0f / 15.0f;
  cpu().cross_entropy_backward(logits.c(), logits.c(), lse.c(), targets.c(), rows, vocab, scale);
  gpu().cross_entropy_backward(logits.g(), logits.g(), lse.g(), targets.g(), rows, vocab, scale);
  expect_close("cross_entropy_backward", logits, 1e-5);
  const std::vector<float> d = logits.gpu_values();
  EXPECT_TRUE(
      std::all_of(d.begin() + 3 * vocab, d.begin() + 4 * vocab, [](float x) { return x == 0.0f; }));
}

TEST_F(CudaBackendTest, AdamwUpdatesMatchWithAndWithoutMask) {
  Rng rng(12);
  const std::size_t n = 10007;
  std::vector<float> mask_host(n);
  for (std::size_t i = 0; i < n; ++i) mask_host[i] = i % 3 == 0 ? 0.0f : 1.0f;
  for (const bool use_mask : {true, false}) {
    Floats param(gpu(), random_floats(n, rng));
    Floats m(gpu(), std::vector<float>(n));
    Floats v(gpu(), std::vector<float>(n));
    Floats mask(gpu(), mask_host);
    for (std::int64_t step = 1; step <= 5; ++step) {
      Floats grad(gpu(), random_floats(n, rng, 0.1f));
      AdamWHyper hyper;
      hyper.lr = 1e-2f;
      hyper.weight_decay = 0.1f;
      hyper.step = step;
      cpu().adamw_update(param.c(), grad.c(), m.c(), v.c(), use_mask ? mask.c() : nullptr, n,
                         hyper);
      gpu().adamw_update(param.g(), grad.g(), m.g(), v.g(), use_mask ? mask.g() : nullptr, n,
                         hyper);
    }
    const std::string what = use_mask ? "adamw (mask)" : "adamw (no mask)";
    expect_close(what + " param", param, 1e-6);
    expect_close(what + " m", m, 1e-6);
    expect_close(what + " v", v, 1e-6);
  }
}

TEST_F(CudaBackendTest, InterventionsOnListedRows) {
  Rng rng(13);
  const int rows = 12, dim = 261;
  Floats x(gpu(), random_floats(static_cast<std::size_t>(rows) * dim, rng));
  Floats vec(gpu(), random_floats(dim, rng));
  std::vector<float> u = random_floats(dim, rng);
  double norm = 0.0;
  for (float e : u) norm += static_cast<double>(e) * e;
  for (float& e : u) e = static_cast<float>(e / std::sqrt(norm));
  Floats unit(gpu(), u);
  const std::vector<std::int32_t> listed = {0, 5, 5, 11, 3};  // row 5 twice: applied twice
  cpu().add_vector_rows(x.c(), dim, listed, vec.c(), 0.75f);
  gpu().add_vector_rows(x.g(), dim, listed, vec.g(), 0.75f);
  expect_close("add_vector_rows", x, 1e-6);
  cpu().project_out_rows(x.c(), dim, listed, unit.c());
  gpu().project_out_rows(x.g(), dim, listed, unit.g());
  expect_close("project_out_rows", x, 1e-5);
  std::vector<float> got(listed.size() * dim), want(listed.size() * dim);
  cpu().gather_rows(want.data(), x.c(), dim, listed);
  gpu().gather_rows(got.data(), x.g(), dim, listed);
  EXPECT_LT(relative_error(got, want), 1e-5);
  const std::vector<float> all = x.gpu_values();
  for (std::size_t i = 0; i < listed.size(); ++i) {  // gather copies bits
    EXPECT_EQ(
        std::memcmp(got.data() + i * dim, all.data() + static_cast<std::size_t>(listed[i]) * dim,
                    dim * sizeof(float)),
        0);
  }
}

TEST(CudaBackendRegistry, UnavailableCudaSaysWhyAndNamesTheAlternative) {
  try {
    (void)backend_by_name("cuda");
    GTEST_SKIP() << "a CUDA device is present; the error path is not reachable here";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cuda"), std::string::npos) << message;
    EXPECT_NE(message.find("--backend cpu"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace masque
