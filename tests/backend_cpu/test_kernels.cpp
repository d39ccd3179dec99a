// What the Backend interface cannot reach in the CPU kernels: the vector exp
// against libm, each ISA of the skinny matmul and of the one-row decode attention (the interface
// runs only the CPU's best), attention's query-block size (fixed at kAttentionBlock behind the
// interface), the uniform-batch entry points next to the per-row ones the backend uses, and the
// RoPE tables the model builds. Every op's math is checked through the interface by the op harness
// (tests/backend).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/decode_attention.h"
#include "backend/cpu/gemv.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/skinny_matmul.h"
#include "backend/cpu/vec_math.h"
#include "core/rng.h"
#include "core/threads.h"

namespace masque {
namespace {

std::vector<float> random_vector(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// max |a - b| / max |b|.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 1e-12;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(a[i]) - b[i]));
    den = std::max(den, std::abs(static_cast<double>(b[i])));
  }
  return num / den;
}

TEST(VecMath, ExpMatchesLibm) {
  double worst = 0.0;
  for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(cpu::exp_scalar(x) - ref) / ref);
  }
  EXPECT_LT(worst, 5e-7);  // ~2 ulp: the 4u the harness's thresholds assume for exp
  EXPECT_EQ(cpu::exp_scalar(-200.0f), 0.0f);
  EXPECT_EQ(cpu::exp_scalar(-INFINITY), 0.0f);
}

TEST(RopeTables, AreTheRoundedDoubleAngles) {
  const int max_pos = 37, hd = 10;
  const double theta = 500.0;
  const cpu::RopeTables t = cpu::make_rope_tables(max_pos, hd, theta);
  ASSERT_EQ(t.half, hd / 2);
  ASSERT_EQ(t.cos.size(), static_cast<std::size_t>(max_pos * hd / 2));
  for (int p = 0; p < max_pos; ++p) {
    for (int i = 0; i < hd / 2; ++i) {
      const double angle = p * std::pow(theta, -2.0 * i / hd);
      EXPECT_EQ(t.cos[p * hd / 2 + i], static_cast<float>(std::cos(angle)));
      EXPECT_EQ(t.sin[p * hd / 2 + i], static_cast<float>(std::sin(angle)));
    }
  }
}

// rope_forward(B, T, offset) is rope_forward_at with positions offset + r % T.
TEST(Rope, UniformBatchEqualsPerRowPositions) {
  Rng rng(3);
  const int B = 2, T = 5, H = 3, hd = 10, ld = H * hd + 7, offset = 4;
  const cpu::RopeTables tables = cpu::make_rope_tables(16, hd, 500.0);
  const std::vector<float> x = random_vector(B * T * ld, rng);
  std::vector<std::int32_t> pos(B * T);
  for (int r = 0; r < B * T; ++r) pos[r] = offset + r % T;
  std::vector<float> a = x, b = x;
  cpu::rope_forward(a.data(), B, T, H, hd, ld, offset, tables);
  cpu::rope_forward_at(b.data(), pos.data(), B * T, H, hd, ld, tables.cos.data(),
                       tables.sin.data());
  EXPECT_EQ(a, b);
  cpu::rope_backward(a.data(), B, T, H, hd, ld, offset, tables);
  cpu::rope_backward_at(b.data(), pos.data(), B * T, H, hd, ld, tables.cos.data(),
                        tables.sin.data());
  EXPECT_EQ(a, b);
}

// The query-block size is a speed knob only: blocks of 16, 37 and 128 rows
// compute the same function as the default 64 (forward and backward), and the
// uniform-batch entry point equals the ragged one it wraps.
TEST(Attention, BlockSizeDoesNotChangeTheResult) {
  Rng rng(8);
  cpu::AttentionDims dims;
  dims.B = 2;
  dims.Tq = dims.Tk = 67;
  dims.n_heads = 4;
  dims.n_kv_heads = 2;
  dims.head_dim = 6;
  const int q_dim = 24, kv_dim = 12, ld = q_dim + 2 * kv_dim;
  dims.ldq = dims.ldk = dims.ldv = ld;
  dims.ldo = q_dim;
  const std::vector<float> qkv = random_vector(dims.B * dims.Tq * ld, rng);
  const std::vector<float> dout = random_vector(dims.B * dims.Tq * q_dim, rng);
  const int threads = num_threads();
  auto run = [&](int block, std::vector<float>* out, std::vector<float>* lse,
                 std::vector<float>* dqkv) {
    cpu::AttentionDims d = dims;
    d.block = block;
    std::vector<float> scratch(cpu::attention_scratch_floats(d, threads));
    out->assign(dims.B * dims.Tq * q_dim, 0.0f);
    lse->assign(dims.B * dims.n_heads * dims.Tq, 0.0f);
    dqkv->assign(qkv.size(), 0.0f);
    cpu::attention_forward(out->data(), lse->data(), qkv.data(), qkv.data() + q_dim,
                           qkv.data() + q_dim + kv_dim, d, scratch.data(), threads);
    cpu::attention_backward(dqkv->data(), dqkv->data() + q_dim, dqkv->data() + q_dim + kv_dim,
                            dout.data(), out->data(), lse->data(), qkv.data(), qkv.data() + q_dim,
                            qkv.data() + q_dim + kv_dim, d, scratch.data(), threads);
  };
  std::vector<float> out, lse, dqkv;
  run(cpu::kAttentionBlock, &out, &lse, &dqkv);
  for (int block : {16, 37, 128}) {
    std::vector<float> o, l, g;
    run(block, &o, &l, &g);
    EXPECT_LT(relative_error(o, out), 1e-5) << "block " << block;
    EXPECT_LT(relative_error(l, lse), 1e-5) << "block " << block;
    EXPECT_LT(relative_error(g, dqkv), 1e-5) << "block " << block;
  }
  // The ragged entry point with the same sequences gives the same bits.
  std::vector<AttentionSeq> seqs;
  for (int b = 0; b < dims.B; ++b) {
    const float* row0 = qkv.data() + static_cast<std::size_t>(b) * dims.Tq * ld;
    seqs.push_back({b * dims.Tq, dims.Tq, 0, dims.Tk, row0 + q_dim, row0 + q_dim + kv_dim});
  }
  const AttentionHeads heads{dims.n_heads, dims.n_kv_heads, dims.head_dim, ld, ld, ld, q_dim};
  std::vector<float> scratch(cpu::attention_seqs_scratch_floats(seqs.data(), dims.B, heads,
                                                                cpu::kAttentionBlock, threads));
  std::vector<float> o(out.size()), l(lse.size());
  cpu::attention_forward_seqs(o.data(), l.data(), qkv.data(), seqs.data(), dims.B, heads,
                              cpu::kAttentionBlock, scratch.data(), threads);
  EXPECT_EQ(o, out);
  EXPECT_EQ(l, lse);
}

// Both skinny kernels against a float64 product, every tile remainder (rows
// 1..13 cover full and partial 6- and 3-row tiles; out 1..9 the 4-column
// tile's tails; in off the 8/16-float vectors), with beta 0 (out poisoned
// with NaN, must not be read) and beta != 0.
TEST(SkinnyMatmul, EachIsaMatchesFloat64Reference) {
  std::vector<cpu::CpuIsa> isas{cpu::CpuIsa::kAvx2};
  if (cpu::cpu_has_avx512()) isas.push_back(cpu::CpuIsa::kAvx512);
  Rng rng(7);
  int checked = 0;
  for (cpu::CpuIsa isa : isas) {
    for (int rows = 1; rows <= 13; ++rows) {
      for (int out_dim : {1, 3, 4, 5, 9, 64}) {
        for (int in : {1, 7, 16, 17, 33, 200}) {
          for (float beta : {0.0f, 0.5f}) {
            const auto a = random_vector(static_cast<std::size_t>(rows) * in, rng);
            const auto w = random_vector(static_cast<std::size_t>(out_dim) * in, rng);
            const auto c0 = random_vector(static_cast<std::size_t>(rows) * out_dim, rng);
            std::vector<float> c = c0;
            if (beta == 0.0f) std::fill(c.begin(), c.end(), std::nanf(""));
            cpu::skinny_matmul(c.data(), a.data(), w.data(), rows, in, out_dim, beta, isa);
            std::vector<float> want(c.size());
            for (int r = 0; r < rows; ++r) {
              for (int n = 0; n < out_dim; ++n) {
                double s = beta * static_cast<double>(c0[r * out_dim + n]);
                for (int k = 0; k < in; ++k)
                  s += static_cast<double>(a[r * in + k]) * w[n * in + k];
                want[r * out_dim + n] = static_cast<float>(s);
              }
            }
            // float32 dot products of length `in`: error grows like sqrt(in) eps.
            ASSERT_LT(relative_error(c, want), 1e-5)
                << "isa " << static_cast<int>(isa) << " rows " << rows << " out " << out_dim
                << " in " << in << " beta " << beta;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(isas.size()) * 13 * 6 * 6 * 2);
}

// Threaded over output columns, the result must not depend on the thread
// count (each output is one thread's dot product, in the same order).
TEST(SkinnyMatmul, ThreadCountDoesNotChangeBits) {
  Rng rng(3);
  const int rows = 16, in = 688, out_dim = 1376;
  const auto a = random_vector(static_cast<std::size_t>(rows) * in, rng);
  const auto w = random_vector(static_cast<std::size_t>(out_dim) * in, rng);
  std::vector<float> one(static_cast<std::size_t>(rows) * out_dim), two(one.size());
  {
    ThreadScope scope(1);
    cpu::skinny_matmul(one.data(), a.data(), w.data(), rows, in, out_dim, 0.0f);
  }
  {
    ThreadScope scope(2);
    cpu::skinny_matmul(two.data(), a.data(), w.data(), rows, in, out_dim, 0.0f);
  }
  EXPECT_EQ(one, two);
}

// Both one-row gemv kernels against float64: out 1..19 covers full 8-row
// blocks, every partial block and the prefetch of a next block; in off the
// 8/16-float vectors; beta 0 (out poisoned with NaN, must not be read) and
// beta != 0.
TEST(Gemv, EachIsaMatchesFloat64Reference) {
  std::vector<cpu::CpuIsa> isas{cpu::CpuIsa::kAvx2};
  if (cpu::cpu_has_avx512()) isas.push_back(cpu::CpuIsa::kAvx512);
  Rng rng(11);
  int checked = 0;
  for (cpu::CpuIsa isa : isas) {
    for (int out_dim = 1; out_dim <= 19; ++out_dim) {
      for (int in : {1, 7, 8, 16, 17, 33, 200, 688}) {
        for (float beta : {0.0f, 0.5f}) {
          const auto x = random_vector(static_cast<std::size_t>(in), rng);
          const auto w = random_vector(static_cast<std::size_t>(out_dim) * in, rng);
          const auto c0 = random_vector(static_cast<std::size_t>(out_dim), rng);
          std::vector<float> c = c0;
          if (beta == 0.0f) std::fill(c.begin(), c.end(), std::nanf(""));
          cpu::gemv(c.data(), x.data(), w.data(), in, out_dim, beta, isa);
          std::vector<float> want(c.size());
          for (int n = 0; n < out_dim; ++n) {
            double s = beta * static_cast<double>(c0[n]);
            for (int k = 0; k < in; ++k) s += static_cast<double>(x[k]) * w[n * in + k];
            want[n] = static_cast<float>(s);
          }
          ASSERT_LT(relative_error(c, want), 1e-5) << "isa " << static_cast<int>(isa) << " out "
                                                   << out_dim << " in " << in << " beta " << beta;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(isas.size()) * 19 * 8 * 2);
}

// Threaded over output rows: the bits must not depend on the thread count.
TEST(Gemv, ThreadCountDoesNotChangeBits) {
  Rng rng(5);
  const int in = 688, out_dim = 1376;
  const auto x = random_vector(static_cast<std::size_t>(in), rng);
  const auto w = random_vector(static_cast<std::size_t>(out_dim) * in, rng);
  std::vector<float> one(static_cast<std::size_t>(out_dim)), two(one.size());
  {
    ThreadScope scope(1);
    cpu::gemv(one.data(), x.data(), w.data(), in, out_dim, 0.0f);
  }
  {
    ThreadScope scope(2);
    cpu::gemv(two.data(), x.data(), w.data(), in, out_dim, 0.0f);
  }
  EXPECT_EQ(one, two);
}

// Each ISA's one-row attention against float64, for every head size it
// serves, key counts around its 4- and 16-key steps, and key/value rows
// strided as in the KV cache (ldk > head_dim).
TEST(DecodeAttention, EachIsaMatchesFloat64Reference) {
  std::vector<cpu::CpuIsa> isas{cpu::CpuIsa::kAvx2};
  if (cpu::cpu_has_avx512()) isas.push_back(cpu::CpuIsa::kAvx512);
  Rng rng(11);
  int checked = 0;
  for (cpu::CpuIsa isa : isas) {
    for (int head_dim : {32, 64, 128}) {
      for (int valid : {1, 3, 4, 15, 16, 17, 40, 203}) {
        const int ld = 3 * head_dim + 5;
        const auto q = random_vector(static_cast<std::size_t>(head_dim), rng);
        const auto k = random_vector(static_cast<std::size_t>(valid) * ld, rng);
        const auto v = random_vector(static_cast<std::size_t>(valid) * ld, rng);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        std::vector<float> out(head_dim, std::nanf("")), s(valid);
        float lse = std::nanf("");
        ASSERT_TRUE(cpu::decode_attention_row(out.data(), q.data(), k.data(), ld, v.data(), ld,
                                              valid, head_dim, scale, s.data(), &lse, isa));
        std::vector<double> sc(valid);
        double m = -1e300;
        for (int j = 0; j < valid; ++j) {
          double d = 0;
          for (int e = 0; e < head_dim; ++e)
            d += static_cast<double>(q[e]) * k[static_cast<std::size_t>(j) * ld + e];
          sc[j] = d * scale;
          m = std::max(m, sc[j]);
        }
        double sum = 0;
        for (double& x : sc) sum += (x = std::exp(x - m));
        std::vector<float> want(head_dim);
        for (int e = 0; e < head_dim; ++e) {
          double o = 0;
          for (int j = 0; j < valid; ++j)
            o += sc[j] / sum * v[static_cast<std::size_t>(j) * ld + e];
          want[e] = static_cast<float>(o);
        }
        EXPECT_LT(relative_error(out, want), 2e-5)
            << "isa " << static_cast<int>(isa) << " head_dim " << head_dim << " valid " << valid;
        EXPECT_NEAR(lse, m + std::log(sum), 1e-4 * (1 + std::abs(m)));
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(isas.size()) * 3 * 8);
  float out[16], s[4], lse = 0;
  EXPECT_FALSE(cpu::decode_attention_row(out, out, out, 16, out, 16, 1, 16, 1.0f, s, &lse));
}

}  // namespace
}  // namespace masque
