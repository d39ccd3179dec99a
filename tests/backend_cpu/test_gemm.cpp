// masque's own GEMM (backend/cpu/gemm.h): each kernel against a float64
// product on shapes that are not multiples of the tiles (12 x 32 and 6 x 16)
// or of the blocks (kc, NC, MC), all four transposes, padded leading
// dimensions, alpha and beta (beta 0 must not read C); and determinism: the
// same bits whatever the thread count, on repeat, and inside an OpenMP
// region (where the attention kernels call it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "backend/cpu/gemm.h"
#include "core/rng.h"
#include "core/threads.h"

namespace masque {
namespace {

using cpu::GemmImpl;

std::vector<GemmImpl> own_impls() {
  std::vector<GemmImpl> impls{GemmImpl::kAvx2};
  if (cpu::resolve_gemm(GemmImpl::kAuto) == GemmImpl::kAvx512) impls.push_back(GemmImpl::kAvx512);
  return impls;
}

struct Case {
  bool ta, tb;
  int m, n, k;
  float alpha, beta;
};

// Runs one case with leading dimensions padded by 3 floats; returns the max
// |C - reference| / max |reference| against a float64 product.
double check_case(const Case& c, GemmImpl impl, Rng& rng) {
  const int a_rows = c.ta ? c.k : c.m, a_cols = c.ta ? c.m : c.k;
  const int b_rows = c.tb ? c.n : c.k, b_cols = c.tb ? c.k : c.n;
  const int lda = a_cols + 3, ldb = b_cols + 3, ldc = c.n + 3;
  std::vector<float> a(static_cast<std::size_t>(a_rows) * lda);
  std::vector<float> b(static_cast<std::size_t>(b_rows) * ldb);
  std::vector<float> c0(static_cast<std::size_t>(c.m) * ldc);
  for (auto& x : a) x = static_cast<float>(rng.normal());
  for (auto& x : b) x = static_cast<float>(rng.normal());
  for (auto& x : c0) x = static_cast<float>(rng.normal());
  std::vector<float> out = c0;
  if (c.beta == 0.0f) std::fill(out.begin(), out.end(), std::nanf(""));
  cpu::sgemm(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a.data(), lda, b.data(), ldb, c.beta, out.data(),
             ldc, impl);
  double num = 0.0, den = 1e-12;
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.n; ++j) {
      double s = 0.0;
      for (int p = 0; p < c.k; ++p) {
        const double av = c.ta ? a[static_cast<std::size_t>(p) * lda + i]
                               : a[static_cast<std::size_t>(i) * lda + p];
        const double bv = c.tb ? b[static_cast<std::size_t>(j) * ldb + p]
                               : b[static_cast<std::size_t>(p) * ldb + j];
        s += av * bv;
      }
      const std::size_t at = static_cast<std::size_t>(i) * ldc + j;
      double want = c.alpha * s;
      if (c.beta != 0.0f) want += static_cast<double>(c.beta) * c0[at];
      num = std::max(num, std::abs(out[at] - want));
      den = std::max(den, std::abs(want));
    }
    // The padding past column n is never written (NaN stays NaN, else c0).
    for (int j = c.n; j < ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i) * ldc + j;
      if (c.beta == 0.0f ? !std::isnan(out[at]) : out[at] != c0[at]) return 1.0;
    }
  }
  return num / den;
}

TEST(Gemm, EachKernelMatchesFloat64Reference) {
  Rng rng(11);
  int checked = 0;
  for (GemmImpl impl : own_impls()) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      for (int m : {1, 5, 12, 13, 31}) {
        for (int n : {1, 17, 32, 33, 70}) {
          for (int k : {1, 7, 300, 401}) {  // 401: two kc blocks on both kernels
            for (float beta : {0.0f, 1.0f, 0.5f}) {
              const Case c{ta, tb, m, n, k, beta == 0.5f ? 0.75f : 1.0f, beta};
              // float32 sums of k products: error grows like sqrt(k) eps.
              ASSERT_LT(check_case(c, impl, rng), 1e-5)
                  << cpu::gemm_impl_name(impl) << " ta " << ta << " tb " << tb << " m " << m
                  << " n " << n << " k " << k << " beta " << beta;
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(own_impls().size()) * 4 * 5 * 5 * 4 * 3);
}

// Past one packed chunk of rows (MC 1920 / 960: at one thread 1933 rows are
// two equal chunks) and one panel of columns (NC 512 / 384), with one
// thread and with two splitting either m or n.
TEST(Gemm, CrossesBlockEdgesWithThreads) {
  Rng rng(12);
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (GemmImpl impl : own_impls()) {
      for (const Case& c : {Case{false, true, 1933, 45, 20, 1.0f, 0.0f},
                            Case{true, false, 30, 1000, 40, 1.0f, 1.0f},
                            Case{false, false, 97, 520, 390, 1.0f, 0.0f}}) {
        EXPECT_LT(check_case(c, impl, rng), 1e-5)
            << cpu::gemm_impl_name(impl) << " threads " << threads << " m " << c.m << " n " << c.n
            << " k " << c.k;
      }
    }
  }
}

TEST(Gemm, EmptyKScalesC) {
  for (GemmImpl impl : own_impls()) {
    std::vector<float> c{1.0f, 2.0f, 3.0f, 4.0f};
    cpu::sgemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, c.data(), 2, impl);
    EXPECT_EQ(c, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}));
    std::vector<float> nan(4, std::nanf(""));
    cpu::sgemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, nan.data(), 2, impl);
    EXPECT_EQ(nan, std::vector<float>(4, 0.0f));
  }
}

// Each element is summed by one thread in a fixed order: the bits do not
// depend on the thread count, a repeat, or an enclosing parallel region.
TEST(Gemm, ThreadCountDoesNotChangeBits) {
  Rng rng(13);
  const int m = 301, n = 530, k = 700;
  std::vector<float> a(static_cast<std::size_t>(m) * k), b(static_cast<std::size_t>(k) * n);
  for (auto& x : a) x = static_cast<float>(rng.normal());
  for (auto& x : b) x = static_cast<float>(rng.normal());
  for (GemmImpl impl : own_impls()) {
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3, 2}) {
      ThreadScope scope(threads);
      std::vector<float> c(static_cast<std::size_t>(m) * n);
      cpu::sgemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n, impl);
      results.push_back(std::move(c));
    }
    std::vector<float> nested(static_cast<std::size_t>(m) * n);
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      cpu::sgemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, nested.data(), n,
                 impl);
    }
    results.push_back(std::move(nested));
    for (std::size_t i = 1; i < results.size(); ++i) {
      EXPECT_EQ(results[i], results[0]) << cpu::gemm_impl_name(impl) << " run " << i;
    }
  }
}

}  // namespace
}  // namespace masque
