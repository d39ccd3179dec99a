// Device memory through the interface, on every backend present: DeviceBuffer
// (zero-fill, typed views, upload/download at offsets, move semantics that
// free each allocation exactly once) and Workspace (grows on demand, never
// shrinks, so a steady loop allocates nothing). A CountingBackend wraps the
// backend under test to count allocate/release calls.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"

namespace masque {
namespace {

// Forwards every call to `inner`, counting allocations and releases.
class CountingBackend final : public Backend {
 public:
  explicit CountingBackend(const Backend& inner) : inner_(inner) {}
  mutable int allocations = 0;
  mutable int releases = 0;

  std::string name() const override { return inner_.name(); }
  bool host_addressable() const override { return inner_.host_addressable(); }
  void* allocate(std::size_t bytes) const override {
    ++allocations;
    return inner_.allocate(bytes);
  }
  void release(void* ptr) const noexcept override {
    ++releases;
    inner_.release(ptr);
  }
  void upload(void* d, const void* h, std::size_t n) const override { inner_.upload(d, h, n); }
  void download(void* h, const void* d, std::size_t n) const override { inner_.download(h, d, n); }
  void copy(void* dst, const void* src, std::size_t n) const override { inner_.copy(dst, src, n); }
  void fill_zero(void* d, std::size_t n) const override { inner_.fill_zero(d, n); }
  void synchronize() const override { inner_.synchronize(); }
  void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) const override {
    inner_.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void matmul_forward(float* o, const float* i, const float* w, int r, int in, int out,
                      bool acc) const override {
    inner_.matmul_forward(o, i, w, r, in, out, acc);
  }
  void matmul_backward(float* di, float* dw, const float* d, const float* i, const float* w, int r,
                       int in, int out) const override {
    inner_.matmul_backward(di, dw, d, i, w, r, in, out);
  }
  void add_inplace(float* o, const float* a, std::size_t n) const override {
    inner_.add_inplace(o, a, n);
  }
  void scale_inplace(float* x, std::size_t n, float f) const override {
    inner_.scale_inplace(x, n, f);
  }
  double sum_squares(const float* x, std::size_t n) const override {
    return inner_.sum_squares(x, n);
  }
  void embedding_forward(float* o, const std::int32_t* t, const float* tab, int r,
                         int d) const override {
    inner_.embedding_forward(o, t, tab, r, d);
  }
  void embedding_backward(float* dt, const float* d, const std::int32_t* t, int r,
                          int dim) const override {
    inner_.embedding_backward(dt, d, t, r, dim);
  }
  void rmsnorm_forward(float* o, float* rs, const float* i, const float* w, int r, int d,
                       float e) const override {
    inner_.rmsnorm_forward(o, rs, i, w, r, d, e);
  }
  void rmsnorm_apply(float* o, const float* rs, const float* i, const float* w, int r,
                     int d) const override {
    inner_.rmsnorm_apply(o, rs, i, w, r, d);
  }
  void rmsnorm_backward(float* di, float* dw, const float* d, const float* i, const float* w,
                        const float* rs, int r, int dim) const override {
    inner_.rmsnorm_backward(di, dw, d, i, w, rs, r, dim);
  }
  void rope_forward(float* x, const std::int32_t* p, int r, int h, int hd, int ld, const float* c,
                    const float* s) const override {
    inner_.rope_forward(x, p, r, h, hd, ld, c, s);
  }
  void rope_backward(float* x, const std::int32_t* p, int r, int h, int hd, int ld, const float* c,
                     const float* s) const override {
    inner_.rope_backward(x, p, r, h, hd, ld, c, s);
  }
  void attention_forward(float* o, float* l, const float* q, std::span<const AttentionSeq> s,
                         const AttentionHeads& h, Workspace& w) const override {
    inner_.attention_forward(o, l, q, s, h, w);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* d, const float* o,
                          const float* l, const float* q, const float* k, const float* v,
                          const AttentionBatch& b, const AttentionHeads& h,
                          Workspace& w) const override {
    inner_.attention_backward(dq, dk, dv, d, o, l, q, k, v, b, h, w);
  }
  void swiglu_forward(float* o, const float* gu, int r, int ff) const override {
    inner_.swiglu_forward(o, gu, r, ff);
  }
  void swiglu_backward(float* dgu, const float* d, const float* gu, int r, int ff) const override {
    inner_.swiglu_backward(dgu, d, gu, r, ff);
  }
  void cross_entropy_forward(float* l, float* lse, const float* x, const std::int32_t* t, int r,
                             int v) const override {
    inner_.cross_entropy_forward(l, lse, x, t, r, v);
  }
  void cross_entropy_backward(float* dx, const float* x, const float* lse, const std::int32_t* t,
                              int r, int v, float s) const override {
    inner_.cross_entropy_backward(dx, x, lse, t, r, v, s);
  }
  void adamw_update(float* p, const float* g, float* m, float* v, const float* mask, std::size_t n,
                    const AdamWHyper& h) const override {
    inner_.adamw_update(p, g, m, v, mask, n, h);
  }
  void add_vector_rows(float* x, int d, std::span<const std::int32_t> r, const float* v,
                       float a) const override {
    inner_.add_vector_rows(x, d, r, v, a);
  }
  void project_out_rows(float* x, int d, std::span<const std::int32_t> r,
                        const float* u) const override {
    inner_.project_out_rows(x, d, r, u);
  }
  void gather_rows(float* o, const float* x, int d,
                   std::span<const std::int32_t> r) const override {
    inner_.gather_rows(o, x, d, r);
  }

 private:
  const Backend& inner_;
};

std::vector<const Backend*> present() {
  std::vector<const Backend*> list{&cpu_backend()};
  try {
    list.push_back(&backend_by_name("cuda"));
  } catch (const InputError&) {
    // CPU only (reported by Backends.CudaPresentOrSkipped).
  }
  return list;
}

std::vector<float> download_all(const DeviceBuffer& b) {
  std::vector<float> host(b.num_floats());
  b.download(host.data(), b.bytes());
  return host;
}

TEST(DeviceBuffer, DefaultAndZeroSizedBuffersOwnNothing) {
  DeviceBuffer none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.bytes(), 0u);
  EXPECT_EQ(none.backend(), nullptr);
  for (const Backend* inner : present()) {
    CountingBackend be(*inner);
    {
      DeviceBuffer zero(be, 0);
      EXPECT_TRUE(zero.empty());
      zero.upload(nullptr, 0);  // a no-op, not a copy from null
    }
    EXPECT_EQ(be.allocations, 0) << inner->name();
    EXPECT_EQ(be.releases, 0) << inner->name();
  }
}

TEST(DeviceBuffer, ZeroFilledTypedAndCopiedAtOffsets) {
  for (const Backend* be : present()) {
    DeviceBuffer f = DeviceBuffer::floats(*be, 37);
    EXPECT_EQ(f.bytes(), 37 * sizeof(float));
    EXPECT_EQ(f.num_floats(), 37u);
    EXPECT_EQ(f.backend(), be);
    EXPECT_EQ(download_all(f), std::vector<float>(37, 0.0f)) << be->name();
    DeviceBuffer n = DeviceBuffer::ints(*be, 5);
    std::vector<std::int32_t> ints(5, -1);
    n.download(ints.data(), n.bytes());
    EXPECT_EQ(ints, std::vector<std::int32_t>(5, 0)) << be->name();
    EXPECT_EQ(static_cast<void*>(n.i32()), n.data());

    const float three[3] = {1.5f, -2.0f, 3.25f};
    f.upload(three, sizeof three, 2 * sizeof(float));  // floats 2..4
    std::vector<float> want(37, 0.0f);
    want[2] = 1.5f;
    want[3] = -2.0f;
    want[4] = 3.25f;
    EXPECT_EQ(download_all(f), want) << be->name();
    float two[2] = {0, 0};
    f.download(two, sizeof two, 3 * sizeof(float));
    EXPECT_EQ(two[0], -2.0f);
    EXPECT_EQ(two[1], 3.25f);
    if (be->host_addressable()) {
      EXPECT_EQ(f.f32()[4], 3.25f);  // parameters may be read in place
    }
  }
}

TEST(DeviceBuffer, MovesTransferOwnershipAndFreeOnce) {
  for (const Backend* inner : present()) {
    CountingBackend be(*inner);
    {
      DeviceBuffer a = DeviceBuffer::floats(be, 8);
      const float one = 1.0f;
      a.upload(&one, sizeof one);
      void* const pa = a.data();
      DeviceBuffer b(std::move(a));  // move construction: b owns pa, a owns nothing
      EXPECT_EQ(b.data(), pa);
      EXPECT_EQ(b.bytes(), 8 * sizeof(float));
      EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
      EXPECT_EQ(a.bytes(), 0u);
      EXPECT_EQ(download_all(b)[0], 1.0f);

      DeviceBuffer c = DeviceBuffer::floats(be, 4);
      EXPECT_EQ(be.allocations, 2);
      c = std::move(b);  // move assignment frees c's old allocation at once
      EXPECT_EQ(be.releases, 1);
      EXPECT_EQ(c.data(), pa);
      EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)

      DeviceBuffer& alias = c;
      c = std::move(alias);  // self-move: a no-op, not a free
      EXPECT_EQ(c.data(), pa);
      EXPECT_EQ(be.releases, 1);
      EXPECT_EQ(download_all(c)[0], 1.0f);
    }
    EXPECT_EQ(be.allocations, 2) << inner->name();
    EXPECT_EQ(be.releases, 2) << inner->name();  // each allocation freed exactly once
  }
}

TEST(Workspace, GrowsOnDemandAndNeverShrinks) {
  for (const Backend* inner : present()) {
    CountingBackend be(*inner);
    {
      Workspace ws(be);
      EXPECT_EQ(&ws.backend(), &be);
      float* small = ws.floats(10);
      ASSERT_NE(small, nullptr);
      EXPECT_EQ(ws.floats(5), small);  // fits: same memory, no allocation
      EXPECT_EQ(ws.floats(10), small);
      EXPECT_EQ(be.allocations, 1);
      float* big = ws.floats(1000);  // grows: a new allocation, the old one freed
      EXPECT_EQ(be.allocations, 2);
      EXPECT_EQ(be.releases, 1);
      EXPECT_EQ(ws.floats(10), big);  // never shrinks
      EXPECT_EQ(be.allocations, 2);
      // The grown memory is usable for all 1000 floats.
      std::vector<float> host(1000), back(1000);
      for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i);
      be.upload(big, host.data(), host.size() * sizeof(float));
      be.download(back.data(), big, back.size() * sizeof(float));
      EXPECT_EQ(back, host) << inner->name();
    }
    EXPECT_EQ(be.releases, be.allocations) << inner->name();
  }
}

}  // namespace
}  // namespace masque

namespace masque {
namespace {

TEST(DeviceBuffer, CopiesPastTheEndAreRefused) {
  DeviceBuffer buf = DeviceBuffer::floats(cpu_backend(), 4);
  float host[8] = {};
  EXPECT_THROW(buf.upload(host, 5 * sizeof(float)), Error);
  EXPECT_THROW(buf.upload(host, sizeof(float), 4 * sizeof(float)), Error);
  EXPECT_THROW(buf.download(host, 2 * sizeof(float), 3 * sizeof(float)), Error);
  EXPECT_THROW(buf.download(host, 1, std::size_t(-1)), Error);
  buf.upload(host, 4 * sizeof(float));  // exactly the buffer: fine
  buf.download(host, sizeof(float), 3 * sizeof(float));
}

}  // namespace
}  // namespace masque
