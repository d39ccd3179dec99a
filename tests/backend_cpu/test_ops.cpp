// Every CPU kernel against a float64 reference (forward) and against finite
// differences of that reference (backward), on shapes that are not multiples
// of 8 so vector bodies and scalar tails both run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/cross_entropy.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/swiglu.h"
#include "backend/cpu/vec_math.h"
#include "core/threads.h"
#include "op_check.h"

namespace masque {
namespace {

using test::check_gradient;
using test::random_vector;
using test::relative_error;
using test::to_double;

double dot_with(const std::vector<double>& out, const std::vector<float>& r) {
  double s = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) s += out[i] * r[i];
  return s;
}

TEST(VecMath, ExpMatchesLibm) {
  double worst = 0.0;
  for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(cpu::exp_scalar(x) - ref) / ref);
  }
  EXPECT_LT(worst, 5e-7);
  EXPECT_EQ(cpu::exp_scalar(-200.0f), 0.0f);
  EXPECT_EQ(cpu::exp_scalar(-INFINITY), 0.0f);
}

// ---- matmul ----
std::vector<double> ref_matmul(const std::vector<double>& x, const std::vector<double>& w, int rows, int in, int out) {
  std::vector<double> y(static_cast<std::size_t>(rows) * out, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < out; ++o) {
      double s = 0.0;
      for (int i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
      y[r * out + o] = s;
    }
  return y;
}

TEST(Matmul, ForwardAndGradients) {
  Rng rng(1);
  const int rows = 13, in = 29, out = 11;
  auto x = random_vector(rows * in, rng), w = random_vector(out * in, rng), r = random_vector(rows * out, rng);
  std::vector<float> y(rows * out);
  cpu::matmul_forward(y.data(), x.data(), w.data(), rows, in, out);
  auto xd = to_double(x), wd = to_double(w);
  EXPECT_LT(relative_error(y, ref_matmul(xd, wd, rows, in, out)), 1e-5);
  std::vector<float> acc = y;
  cpu::matmul_forward_add(acc.data(), x.data(), w.data(), rows, in, out);
  for (int i = 0; i < rows * out; ++i) EXPECT_FLOAT_EQ(acc[i], 2 * y[i]);

  std::vector<float> dx(rows * in), dw(out * in, 0.5f);
  cpu::matmul_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), rows, in, out);
  for (auto& v : dw) v -= 0.5f;  // dweight accumulates
  auto loss = [&] { return dot_with(ref_matmul(xd, wd, rows, in, out), r); };
  check_gradient("matmul dinp", xd, dx, loss);
  check_gradient("matmul dweight", wd, dw, loss);
}

// ---- rmsnorm ----
std::vector<double> ref_rmsnorm(const std::vector<double>& x, const std::vector<double>& w, int rows, int dim, double eps) {
  std::vector<double> y(x.size());
  for (int r = 0; r < rows; ++r) {
    double ms = 0.0;
    for (int i = 0; i < dim; ++i) ms += x[r * dim + i] * x[r * dim + i];
    const double rs = 1.0 / std::sqrt(ms / dim + eps);
    for (int i = 0; i < dim; ++i) y[r * dim + i] = w[i] * x[r * dim + i] * rs;
  }
  return y;
}

TEST(RmsNorm, ForwardAndGradients) {
  Rng rng(2);
  for (auto [rows, dim] : {std::pair{7, 37}, std::pair{19, 64}, std::pair{1, 5}}) {
    const float eps = 1e-5f;
    auto x = random_vector(rows * dim, rng), w = random_vector(dim, rng), r = random_vector(rows * dim, rng);
    std::vector<float> y(rows * dim), rstd(rows), y2(rows * dim);
    cpu::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), rows, dim, eps);
    auto xd = to_double(x), wd = to_double(w);
    EXPECT_LT(relative_error(y, ref_rmsnorm(xd, wd, rows, dim, eps)), 1e-6);
    cpu::rmsnorm_apply(y2.data(), rstd.data(), x.data(), w.data(), rows, dim);
    EXPECT_EQ(y, y2);  // the backward's recomputation is bit-identical
    std::vector<float> dx(rows * dim, 0.25f), dw(dim, 0.0f);
    cpu::rmsnorm_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), rows, dim);
    for (auto& v : dx) v -= 0.25f;  // dinp accumulates
    auto loss = [&] { return dot_with(ref_rmsnorm(xd, wd, rows, dim, eps), r); };
    check_gradient("rmsnorm dinp", xd, dx, loss);
    check_gradient("rmsnorm dweight", wd, dw, loss);
  }
}

// ---- rope ----
std::vector<double> ref_rope(const std::vector<double>& x, int B, int T, int H, int hd, int ld, int offset,
                             double theta) {
  std::vector<double> y = x;
  const int half = hd / 2;
  for (int row = 0; row < B * T; ++row) {
    const int pos = offset + row % T;
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < half; ++i) {
        const double angle = pos * std::pow(theta, -2.0 * i / hd);
        const double a = x[row * ld + h * hd + i], b = x[row * ld + h * hd + i + half];
        y[row * ld + h * hd + i] = a * std::cos(angle) - b * std::sin(angle);
        y[row * ld + h * hd + i + half] = b * std::cos(angle) + a * std::sin(angle);
      }
  }
  return y;
}

TEST(Rope, ForwardAndGradients) {
  Rng rng(3);
  const int B = 2, T = 5, H = 3, hd = 10, ld = H * hd + 7, offset = 4;
  const double theta = 500.0;
  auto tables = cpu::make_rope_tables(16, hd, theta);
  auto x = random_vector(B * T * ld, rng), r = random_vector(B * T * ld, rng);
  auto xd = to_double(x);
  std::vector<float> y = x;
  cpu::rope_forward(y.data(), B, T, H, hd, ld, offset, tables);
  EXPECT_LT(relative_error(y, ref_rope(xd, B, T, H, hd, ld, offset, theta)), 1e-6);
  std::vector<float> dx = r;
  cpu::rope_backward(dx.data(), B, T, H, hd, ld, offset, tables);
  check_gradient("rope", xd, dx, [&] { return dot_with(ref_rope(xd, B, T, H, hd, ld, offset, theta), r); });
}

// ---- swiglu ----
std::vector<double> ref_swiglu(const std::vector<double>& gu, int rows, int ff) {
  std::vector<double> y(static_cast<std::size_t>(rows) * ff);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < ff; ++i) {
      const double g = gu[r * 2 * ff + i], u = gu[r * 2 * ff + ff + i];
      y[r * ff + i] = g / (1.0 + std::exp(-g)) * u;
    }
  return y;
}

TEST(SwiGlu, ForwardAndGradients) {
  Rng rng(4);
  const int rows = 6, ff = 21;
  auto gu = random_vector(rows * 2 * ff, rng, 3.0f), r = random_vector(rows * ff, rng);
  gu[0] = -120.0f;  // saturated tails must stay finite
  gu[1] = 95.0f;
  std::vector<float> y(rows * ff);
  cpu::swiglu_forward(y.data(), gu.data(), rows, ff);
  auto gud = to_double(gu);
  EXPECT_LT(relative_error(y, ref_swiglu(gud, rows, ff)), 1e-6);
  std::vector<float> dgu(rows * 2 * ff);
  cpu::swiglu_backward(dgu.data(), r.data(), gu.data(), rows, ff);
  for (float v : dgu) EXPECT_TRUE(std::isfinite(v));
  check_gradient("swiglu", gud, dgu, [&] { return dot_with(ref_swiglu(gud, rows, ff), r); });
  // In place (the model reuses gate|up for its gradient): same result.
  std::vector<float> inplace = gu;
  cpu::swiglu_backward(inplace.data(), r.data(), inplace.data(), rows, ff);
  EXPECT_EQ(inplace, dgu);
}

// ---- cross-entropy ----
TEST(CrossEntropy, LossAndGradientsWithIgnoreIndex) {
  Rng rng(5);
  const int rows = 9, vocab = 37;
  auto logits = random_vector(rows * vocab, rng, 2.0f);
  std::vector<std::int32_t> targets = {3, -1, 36, 0, 17, -1, 5, 8, 30};
  std::vector<float> losses(rows), lse(rows);
  cpu::softmax_cross_entropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), rows, vocab);
  auto ld = to_double(logits);
  const double scale = 0.7 / 7.0;
  auto ref_loss = [&](std::vector<double>* per_row) {
    double total = 0.0;
    for (int r = 0; r < rows; ++r) {
      double m = -1e300, s = 0.0;
      for (int v = 0; v < vocab; ++v) m = std::max(m, ld[r * vocab + v]);
      for (int v = 0; v < vocab; ++v) s += std::exp(ld[r * vocab + v] - m);
      const double row = targets[r] < 0 ? 0.0 : m + std::log(s) - ld[r * vocab + targets[r]];
      if (per_row) per_row->push_back(row);
      total += row;
    }
    return total * scale;
  };
  std::vector<double> per_row;
  ref_loss(&per_row);
  EXPECT_LT(relative_error(losses, per_row), 1e-6);
  EXPECT_EQ(losses[1], 0.0f);
  std::vector<float> dlogits = logits;  // in place, as the model calls it
  cpu::softmax_cross_entropy_backward(dlogits.data(), dlogits.data(), lse.data(), targets.data(), rows, vocab,
                                      static_cast<float>(scale));
  for (int v = 0; v < vocab; ++v) EXPECT_EQ(dlogits[1 * vocab + v], 0.0f);
  check_gradient("cross-entropy", ld, dlogits, [&] { return ref_loss(nullptr); });
}

// ---- embedding ----
TEST(Embedding, GatherAndDeterministicScatter) {
  Rng rng(6);
  const int vocab = 11, dim = 45, rows = 17;
  auto table = random_vector(vocab * dim, rng), dout = random_vector(rows * dim, rng);
  std::vector<std::int32_t> tokens(rows);
  for (auto& t : tokens) t = static_cast<std::int32_t>(rng.below(4));  // many repeats
  std::vector<float> out(rows * dim);
  cpu::embedding_forward(out.data(), tokens.data(), table.data(), rows, dim);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < dim; ++i) ASSERT_EQ(out[r * dim + i], table[tokens[r] * dim + i]);
  std::vector<float> dtable(vocab * dim, 0.0f);
  cpu::embedding_backward(dtable.data(), dout.data(), tokens.data(), rows, dim);
  std::vector<double> ref(vocab * dim, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < dim; ++i) ref[tokens[r] * dim + i] += dout[r * dim + i];
  EXPECT_LT(relative_error(dtable, ref), 1e-6);
}

// ---- attention ----
struct AttnCase {
  int B, Tq, Tk, offset, H, Hkv, hd;
};

// Causal GQA attention in double; q rows [B*Tq, ld], k/v rows [B*Tk, ld] with
// the same layout as the kernel's inputs.
std::vector<double> ref_attention(const std::vector<double>& q, const std::vector<double>& k,
                                  const std::vector<double>& v, const AttnCase& c, int ldq, int ldk, int ldo) {
  std::vector<double> out(static_cast<std::size_t>(c.B) * c.Tq * ldo, 0.0);
  const int group = c.H / c.Hkv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.hd));
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.H; ++h)
      for (int i = 0; i < c.Tq; ++i) {
        const int visible = c.offset + i + 1;
        std::vector<double> s(visible);
        double m = -1e300;
        for (int j = 0; j < visible; ++j) {
          double dot = 0.0;
          for (int e = 0; e < c.hd; ++e)
            dot += q[(b * c.Tq + i) * ldq + h * c.hd + e] * k[(b * c.Tk + j) * ldk + (h / group) * c.hd + e];
          s[j] = dot * scale;
          m = std::max(m, s[j]);
        }
        double sum = 0.0;
        for (auto& x : s) sum += (x = std::exp(x - m));
        for (int e = 0; e < c.hd; ++e) {
          double acc = 0.0;
          for (int j = 0; j < visible; ++j) acc += s[j] * v[(b * c.Tk + j) * ldk + (h / group) * c.hd + e];
          out[(b * c.Tq + i) * ldo + h * c.hd + e] = acc / sum;
        }
      }
  return out;
}

cpu::AttentionDims dims_of(const AttnCase& c, int ldq, int ldk, int ldo) {
  cpu::AttentionDims d;
  d.B = c.B;
  d.Tq = c.Tq;
  d.Tk = c.Tk;
  d.q_offset = c.offset;
  d.n_heads = c.H;
  d.n_kv_heads = c.Hkv;
  d.head_dim = c.hd;
  d.ldq = ldq;
  d.ldk = d.ldv = ldk;
  d.ldo = ldo;
  return d;
}

TEST(Attention, ForwardMatchesReferenceIncludingCachedKeys) {
  Rng rng(7);
  // Training shape spanning two query blocks, and decoding shapes (offset > 0).
  for (AttnCase c : {AttnCase{2, 70, 70, 0, 4, 2, 12}, AttnCase{1, 5, 23, 18, 6, 3, 8}, AttnCase{1, 1, 9, 8, 4, 1, 6}}) {
    const int ldq = c.H * c.hd + 3, ldk = c.Hkv * c.hd + 5, ldo = c.H * c.hd;
    auto q = random_vector(c.B * c.Tq * ldq, rng), k = random_vector(c.B * c.Tk * ldk, rng),
         v = random_vector(c.B * c.Tk * ldk, rng);
    const auto dims = dims_of(c, ldq, ldk, ldo);
    const int threads = num_threads();
    std::vector<float> scratch(cpu::attention_scratch_floats(dims, threads));
    std::vector<float> out(c.B * c.Tq * ldo), lse(c.B * c.H * c.Tq);
    cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), dims, scratch.data(), threads);
    EXPECT_LT(relative_error(out, ref_attention(to_double(q), to_double(k), to_double(v), c, ldq, ldk, ldo)), 1e-5)
        << "Tq " << c.Tq << " Tk " << c.Tk;
  }
}

TEST(Attention, GradientsMatchFiniteDifferences) {
  Rng rng(8);
  const AttnCase c{2, 67, 67, 0, 4, 2, 6};  // GQA, two query blocks, odd sizes
  const int ldq = c.H * c.hd + 2 * c.Hkv * c.hd;  // the model's fused q|k|v row
  const int ldo = c.H * c.hd;
  auto qkv = random_vector(c.B * c.Tq * ldq, rng);
  auto r = random_vector(c.B * c.Tq * ldo, rng);
  const int koff = c.H * c.hd, voff = koff + c.Hkv * c.hd;
  cpu::AttentionDims dims = dims_of(c, ldq, ldq, ldo);
  const int threads = num_threads();
  std::vector<float> scratch(cpu::attention_scratch_floats(dims, threads));
  std::vector<float> out(c.B * c.Tq * ldo), lse(c.B * c.H * c.Tq), dqkv(qkv.size(), 0.0f);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), qkv.data() + koff, qkv.data() + voff, dims,
                         scratch.data(), threads);
  cpu::attention_backward(dqkv.data(), dqkv.data() + koff, dqkv.data() + voff, r.data(), out.data(), lse.data(),
                          qkv.data(), qkv.data() + koff, qkv.data() + voff, dims, scratch.data(), threads);
  auto xd = to_double(qkv);
  auto loss = [&] {
    std::vector<double> q(xd), k(xd.begin() + koff, xd.end()), v(xd.begin() + voff, xd.end());
    k.resize(xd.size());
    v.resize(xd.size());
    return dot_with(ref_attention(q, k, v, c, ldq, ldq, ldo), r);
  };
  check_gradient("attention dq|dk|dv", xd, dqkv, loss, 2e-4, 120);
  // Other block sizes (the bench's variants) compute the same function.
  for (int block : {16, 37, 128}) {
    cpu::AttentionDims alt = dims;
    alt.block = block;
    std::vector<float> alt_scratch(cpu::attention_scratch_floats(alt, threads));
    std::vector<float> alt_out(out.size()), alt_lse(lse.size()), alt_d(qkv.size(), 0.0f);
    cpu::attention_forward(alt_out.data(), alt_lse.data(), qkv.data(), qkv.data() + koff, qkv.data() + voff, alt,
                           alt_scratch.data(), threads);
    cpu::attention_backward(alt_d.data(), alt_d.data() + koff, alt_d.data() + voff, r.data(), alt_out.data(),
                            alt_lse.data(), qkv.data(), qkv.data() + koff, qkv.data() + voff, alt,
                            alt_scratch.data(), threads);
    EXPECT_LT(relative_error(alt_out, to_double(out)), 1e-5) << "block " << block;
    EXPECT_LT(relative_error(alt_d, to_double(dqkv)), 1e-5) << "block " << block;
  }
  // Bit-identical when repeated (no atomics, fixed reduction order).
  std::vector<float> again(qkv.size(), 0.0f);
  cpu::attention_backward(again.data(), again.data() + koff, again.data() + voff, r.data(), out.data(), lse.data(),
                          qkv.data(), qkv.data() + koff, qkv.data() + voff, dims, scratch.data(), threads);
  EXPECT_EQ(again, dqkv);
}

}  // namespace
}  // namespace masque
