// The Q8_0 linear kernels (backend/cpu/q8_matmul.h) of each ISA against a
// float64 product with the dequantized weight, over every tile remainder;
// the conversions against ggml's block layout and quantizer; thread-count
// independence; and the CPU backend's choice between Q8_0 and float32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/cpu/q8_matmul.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"

namespace masque {
namespace {

std::vector<float> random_vector(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// out [rows, w.rows] = a @ dequant(w)^T + beta * c0, in float64.
std::vector<float> reference(const std::vector<float>& a, const Q8Matrix& w, int rows,
                             const std::vector<float>& c0, float beta) {
  const std::vector<float> deq = cpu::q8_dequantize(w);
  std::vector<float> out(static_cast<std::size_t>(rows) * w.rows);
  for (int r = 0; r < rows; ++r) {
    for (int n = 0; n < w.rows; ++n) {
      double s = beta * static_cast<double>(c0[r * w.rows + n]);
      for (int k = 0; k < w.in; ++k) s += static_cast<double>(a[r * w.in + k]) * deq[n * w.in + k];
      out[r * w.rows + n] = static_cast<float>(s);
    }
  }
  return out;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 1e-12;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(a[i]) - b[i]));
    den = std::max(den, std::abs(static_cast<double>(b[i])));
  }
  return num / den;
}

// The weights are exactly their dequantized values and the activations are
// not quantized, so the only error is float32 summation over `in` terms:
// the same bound as the float32 skinny kernels (1e-5 relative), not the
// ~1e-2 an 8-bit activation would cost. Rows 1..9 cover full and partial 4-
// and 2-row tiles, out 1..9 the 4-column tile's tails, in 32..416 odd block
// counts; beta 0 poisons out with NaN (must not be read).
TEST(Q8Matmul, EachIsaMatchesFloat64ReferenceOfDequantizedWeights) {
  std::vector<cpu::CpuIsa> isas{cpu::CpuIsa::kAvx2};
  if (cpu::cpu_has_avx512()) isas.push_back(cpu::CpuIsa::kAvx512);
  Rng rng(11);
  int checked = 0;
  for (cpu::CpuIsa isa : isas) {
    for (int rows = 1; rows <= 9; ++rows) {
      for (int out_dim : {1, 3, 4, 5, 9, 66}) {
        for (int in : {32, 96, 416}) {
          for (float beta : {0.0f, 0.5f}) {
            const auto a = random_vector(static_cast<std::size_t>(rows) * in, rng);
            const auto wf = random_vector(static_cast<std::size_t>(out_dim) * in, rng);
            const Q8Matrix w = cpu::q8_quantize(wf.data(), out_dim, in);
            const auto c0 = random_vector(static_cast<std::size_t>(rows) * out_dim, rng);
            std::vector<float> c = c0;
            if (beta == 0.0f) std::fill(c.begin(), c.end(), std::nanf(""));
            cpu::q8_matmul(c.data(), a.data(), w, rows, beta, isa);
            ASSERT_LT(relative_error(c, reference(a, w, rows, c0, beta)), 1e-5)
                << "isa " << static_cast<int>(isa) << " rows " << rows << " out " << out_dim
                << " in " << in << " beta " << beta;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(isas.size()) * 9 * 6 * 3 * 2);
}

TEST(Q8Matmul, QuantizerIsGgmlsAndBlocksRoundTrip) {
  // One block: max |x| = 2.54 -> d = 0.02 (as f16), q = round(x / d).
  std::vector<float> x(32, 0.0f);
  x[0] = 2.54f;
  x[1] = -1.0f;
  x[2] = 0.011f;  // 0.55 of a step: rounds away to 1
  const Q8Matrix m = cpu::q8_quantize(x.data(), 1, 32);
  const float d16 = m.scale[0];
  EXPECT_NEAR(d16, 0.02f, 1e-5f);
  EXPECT_EQ(m.q[0], 127);
  EXPECT_EQ(m.q[1], -50);
  EXPECT_EQ(m.q[2], 1);
  EXPECT_EQ(m.q[3], 0);
  // An all-zero block has scale 0 and zero values (no division by zero).
  const std::vector<float> zeros(64, 0.0f);
  const Q8Matrix z = cpu::q8_quantize(zeros.data(), 2, 32);
  EXPECT_EQ(z.scale, std::vector<float>(2, 0.0f));
  // ggml's bytes: f16 scale then 32 int8 per block.
  std::vector<std::uint8_t> bytes(34);
  const std::uint16_t half = 0x3c00;  // 1.0
  std::memcpy(bytes.data(), &half, 2);
  for (int i = 0; i < 32; ++i)
    bytes[2 + i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(i - 16));
  const Q8Matrix b = cpu::q8_from_ggml_blocks(bytes.data(), 1, 32);
  EXPECT_EQ(b.scale[0], 1.0f);
  EXPECT_EQ(b.q[0], -16);
  EXPECT_EQ(b.q[31], 15);
  EXPECT_THROW(cpu::q8_from_ggml_blocks(bytes.data(), 1, 33), Error);
  // Fusing rows keeps each part's rows in order.
  const Q8Matrix f = cpu::q8_concat_rows({&m, &b});
  ASSERT_EQ(f.rows, 2);
  EXPECT_EQ(f.q[32], -16);
  EXPECT_EQ(f.scale[1], 1.0f);
}

TEST(Q8Matmul, ThreadCountDoesNotChangeBits) {
  Rng rng(5);
  const int rows = 3, in = 704, out_dim = 1408;
  const auto a = random_vector(static_cast<std::size_t>(rows) * in, rng);
  const auto wf = random_vector(static_cast<std::size_t>(out_dim) * in, rng);
  const Q8Matrix w = cpu::q8_quantize(wf.data(), out_dim, in);
  std::vector<float> one(static_cast<std::size_t>(rows) * out_dim), two(one.size());
  {
    ThreadScope scope(1);
    cpu::q8_matmul(one.data(), a.data(), w, rows, 0.0f);
  }
  {
    ThreadScope scope(2);
    cpu::q8_matmul(two.data(), a.data(), w, rows, 0.0f);
  }
  EXPECT_EQ(one, two);
}

}  // namespace
}  // namespace masque
