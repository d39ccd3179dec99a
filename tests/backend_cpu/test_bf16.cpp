// The bf16 path of `--dtype bf16`: float32 -> bf16 rounding (scalar and
// vector, round-to-nearest-even, NaN/inf/ties/subnormals) and the bf16 GEMM
// with each micro-kernel the CPU has, every transpose, against float64.
// On a CPU without AVX512_BF16 the GEMM tests check the error instead.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/bf16_convert.h"
#include "backend/cpu/bf16_gemm.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"

namespace masque {
namespace {

float from_bits(std::uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

TEST(Bf16Convert, RoundsToNearestEven) {
  using cpu::float_to_bf16;
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  // Exactly half-way: ties go to the even neighbour, both directions.
  EXPECT_EQ(float_to_bf16(from_bits(0x3f808000u)), 0x3f80);  // ...0 | 1000... -> down
  EXPECT_EQ(float_to_bf16(from_bits(0x3f818000u)), 0x3f82);  // ...1 | 1000... -> up
  EXPECT_EQ(float_to_bf16(from_bits(0xbf818000u)), 0xbf82);
  // Just above / below half-way.
  EXPECT_EQ(float_to_bf16(from_bits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(float_to_bf16(from_bits(0x3f807fffu)), 0x3f80);
  // Rounding carries into the exponent, and past the largest finite to inf.
  EXPECT_EQ(float_to_bf16(from_bits(0x3fffffffu)), 0x4000);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  // NaN stays NaN (quiet, sign kept), even when its payload is only in the low bits.
  EXPECT_EQ(float_to_bf16(from_bits(0x7fc00000u)), 0x7fc0);
  EXPECT_EQ(float_to_bf16(from_bits(0x7f800001u)), 0x7fc0);
  EXPECT_EQ(float_to_bf16(from_bits(0xff800001u)), 0xffc0);
  EXPECT_TRUE(std::isnan(cpu::bf16_to_float(float_to_bf16(std::nanf("")))));
  // Subnormal inputs become zero of the same sign (AVX512_BF16 semantics).
  EXPECT_EQ(float_to_bf16(from_bits(0x00000001u)), 0x0000);
  EXPECT_EQ(float_to_bf16(from_bits(0x807fffffu)), 0x8000);
  EXPECT_EQ(float_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
  // Round trip of representable values is exact.
  EXPECT_EQ(cpu::bf16_to_float(0x3f81), from_bits(0x3f810000u));
}

// The vector conversion (what the GEMM's packing uses) and the scalar one
// agree bit for bit on random bit patterns, the special values, and every
// tail length.
TEST(Bf16Convert, VectorMatchesScalar) {
  Rng rng(11);
  std::vector<float> x;
  for (std::uint32_t bits :
       {0x3f808000u, 0x3f818000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffbfffffu,
        0x00000001u, 0x80400000u, 0x7f7fffffu, 0x00800000u, 0x0u, 0x80000000u})
    x.push_back(from_bits(bits));
  for (int i = 0; i < 4000; ++i) x.push_back(from_bits(static_cast<std::uint32_t>(rng.next())));
  for (std::size_t n : {x.size(), std::size_t{1}, std::size_t{15}, std::size_t{17}, std::size_t{31},
                        std::size_t{33}, std::size_t{47}}) {
    std::vector<cpu::bf16> got(n + 1, 0xabcd);
    cpu::convert_to_bf16(got.data(), x.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(got[i], cpu::float_to_bf16(x[i])) << "n " << n << " i " << i;
    }
    EXPECT_EQ(got[n], 0xabcd) << "wrote past the end, n " << n;
  }
}

std::vector<cpu::Bf16Kernel> kernels() {
  std::vector<cpu::Bf16Kernel> list;
  if (cpu::cpu_has_avx512_bf16()) list.push_back(cpu::Bf16Kernel::kAvx512);
  if (cpu::cpu_has_amx_bf16()) list.push_back(cpu::Bf16Kernel::kAmx);
  return list;
}

std::vector<float> random_vector(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  return v;
}

struct Case {
  bool ta, tb;
  int m, n, k;
  float alpha, beta;
};

// One product: checks C against float64 on the bf16-rounded inputs (tight:
// only float32 accumulation differs) and on the float32 inputs (bf16's own
// tolerance: each product carries <= 2^-8 relative error).
void check_case(const Case& t, cpu::Bf16Kernel kernel, Rng& rng) {
  const int rows_a = t.ta ? t.k : t.m, cols_a = t.ta ? t.m : t.k;
  const int rows_b = t.tb ? t.n : t.k, cols_b = t.tb ? t.k : t.n;
  const int lda = cols_a + 3, ldb = cols_b + 5, ldc = t.n + 2;  // strided, as views into rows
  const auto a = random_vector(static_cast<std::size_t>(rows_a) * lda, rng);
  const auto b = random_vector(static_cast<std::size_t>(rows_b) * ldb, rng);
  const auto c0 = random_vector(static_cast<std::size_t>(t.m) * ldc, rng);
  std::vector<float> c = c0;
  if (t.beta == 0.0f) std::fill(c.begin(), c.end(), std::nanf(""));  // must not be read
  cpu::bf16_gemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, a.data(), lda, b.data(), ldb, t.beta, c.data(),
                 ldc, kernel);
  auto at = [&](int i, int p) { return a[t.ta ? p * lda + i : i * lda + p]; };
  auto bt = [&](int p, int j) { return b[t.tb ? j * ldb + p : p * ldb + j]; };
  auto round = [](float x) {
    return static_cast<double>(cpu::bf16_to_float(cpu::float_to_bf16(x)));
  };
  for (int i = 0; i < t.m; ++i) {
    for (int j = 0; j < t.n; ++j) {
      double rounded = 0.0, exact = 0.0, magnitude = 0.0;
      for (int p = 0; p < t.k; ++p) {
        rounded += round(at(i, p)) * round(bt(p, j));
        exact += static_cast<double>(at(i, p)) * bt(p, j);
        magnitude += std::abs(static_cast<double>(at(i, p)) * bt(p, j));
      }
      const double base = t.beta == 0.0f ? 0.0 : t.beta * static_cast<double>(c0[i * ldc + j]);
      const double got = c[i * ldc + j];
      const double scale = std::abs(t.alpha) * magnitude + std::abs(base) + 1e-30;
      ASSERT_LE(std::abs(got - (t.alpha * rounded + base)), 1e-5 * scale + 1e-6)
          << "kernel " << cpu::bf16_kernel_name(kernel) << " ta " << t.ta << " tb " << t.tb << " m "
          << t.m << " n " << t.n << " k " << t.k << " at " << i << "," << j;
      ASSERT_LE(std::abs(got - (t.alpha * exact + base)), std::ldexp(1.0, -7) * scale)
          << "kernel " << cpu::bf16_kernel_name(kernel) << " at " << i << "," << j;
    }
    // Padding columns of C (ldc > n) are untouched.
    for (int j = t.n; j < ldc; ++j) {
      if (t.beta == 0.0f) {
        ASSERT_TRUE(std::isnan(c[i * ldc + j]));
      } else {
        ASSERT_EQ(c[i * ldc + j], c0[i * ldc + j]);
      }
    }
  }
}

// Every transpose the model uses (forward NT, dinp NN, dweight TN) and TT,
// on shapes off the 16/32-wide tiles and the 512-wide K blocks.
TEST(Bf16Gemm, EachKernelMatchesFloat64Reference) {
  const auto list = kernels();
  if (list.empty()) {
    EXPECT_THROW(cpu::resolve_bf16_kernel(cpu::Bf16Kernel::kAuto), InputError);
    return;
  }
  Rng rng(5);
  const int shapes[][3] = {{1, 1, 1},    {17, 33, 15}, {32, 32, 32},   {45, 18, 100},
                           {130, 7, 47}, {3, 70, 517}, {64, 48, 1100}, {150, 40, 33}};
  int checked = 0;
  for (cpu::Bf16Kernel kernel : list) {
    for (const auto& s : shapes) {
      for (int trans = 0; trans < 4; ++trans) {
        const bool ta = (trans & 1) != 0, tb = (trans & 2) != 0;
        check_case({ta, tb, s[0], s[1], s[2], 1.0f, 0.0f}, kernel, rng);
        check_case({ta, tb, s[0], s[1], s[2], -0.5f, 1.0f}, kernel, rng);
        checked += 2;
      }
    }
    check_case({false, true, 300, 260, 70, 1.0f, 0.25f}, kernel, rng);  // several row blocks
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(list.size()) * (8 * 4 * 2 + 1));
}

// Each output is one thread's work in a fixed order: the bits do not depend
// on the thread count.
TEST(Bf16Gemm, ThreadCountDoesNotChangeBits) {
  if (kernels().empty()) {
    EXPECT_THROW(cpu::resolve_bf16_kernel(cpu::Bf16Kernel::kAuto), InputError);
    return;
  }
  Rng rng(9);
  const int m = 300, n = 200, k = 600;
  const auto a = random_vector(static_cast<std::size_t>(m) * k, rng);
  const auto b = random_vector(static_cast<std::size_t>(k) * n, rng);
  for (cpu::Bf16Kernel kernel : kernels()) {
    std::vector<float> one(static_cast<std::size_t>(m) * n), three(one.size());
    {
      ThreadScope scope(1);
      cpu::bf16_gemm(true, false, m, n, k, 1.0f, a.data(), m, b.data(), n, 0.0f, one.data(), n,
                     kernel);
    }
    {
      ThreadScope scope(3);
      cpu::bf16_gemm(true, false, m, n, k, 1.0f, a.data(), m, b.data(), n, 0.0f, three.data(), n,
                     kernel);
    }
    EXPECT_EQ(one, three) << cpu::bf16_kernel_name(kernel);
  }
}

}  // namespace
}  // namespace masque
