// What the Backend interface cannot reach in the CPU kernels: the vector exp
// against libm, attention's query-block size (fixed at kAttentionBlock behind
// the interface), the uniform-batch entry points next to the per-row ones the
// backend uses, and the RoPE tables the model builds. Every op's math is
// checked through the interface by the op harness (tests/backend).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/rope.h"
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
  std::vector<float> scratch(
      cpu::attention_seqs_scratch_floats(seqs.data(), dims.B, cpu::kAttentionBlock, threads));
  std::vector<float> o(out.size()), l(lse.size());
  cpu::attention_forward_seqs(o.data(), l.data(), qkv.data(), seqs.data(), dims.B, heads,
                              cpu::kAttentionBlock, scratch.data(), threads);
  EXPECT_EQ(o, out);
  EXPECT_EQ(l, lse);
}

}  // namespace
}  // namespace masque
