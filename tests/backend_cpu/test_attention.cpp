// Both attention implementations (the fused AVX-512 kernels and the AVX2
// per-block sgemm path; the Backend interface, and so the op harness in
// tests/backend, runs only the CPU's best) against a float64 reference, on
// shapes that are not multiples of the kernels' tiles (head_dim 1..130 across
// the 16-float vectors and 64-column chunks, sequences across the 64-key
// tiles and the query blocks), with grouped KV heads, prefill after a cached
// prefix, and any thread count giving the same bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/cpu_features.h"
#include "core/rng.h"
#include "core/threads.h"

namespace masque {
namespace {

std::vector<cpu::CpuIsa> isas() {
  std::vector<cpu::CpuIsa> v{cpu::CpuIsa::kAvx2};
  if (cpu::cpu_has_avx512()) v.push_back(cpu::CpuIsa::kAvx512);
  return v;
}

const char* isa_name(cpu::CpuIsa isa) { return isa == cpu::CpuIsa::kAvx512 ? "avx512" : "avx2"; }

std::vector<float> random_vector(std::size_t n, Rng& rng, double sd) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(sd * rng.normal());
  return v;
}

// max |got - want| / max |want| over the used entries (NaN counts as a miss);
// the denominator at least 0.01 (a one-key row's dq and dk are exactly 0).
double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0.0, den = 1e-2;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double diff = std::abs(got[i] - want[i]);
    num = std::isnan(diff) ? INFINITY : std::max(num, diff);
    den = std::max(den, std::abs(want[i]));
  }
  return num / den;
}

// Uniform-batch geometry with q|k|v fused in one row (training's layout),
// keys [0, Tk) and queries at positions q_offset.. (Tk = q_offset + Tq).
struct Shape {
  int B, Tq, q_offset, n_heads, n_kv_heads, head_dim, block;
};

struct Result {
  std::vector<float> out, lse, dqkv;
};

cpu::AttentionDims dims_of(const Shape& s) {
  cpu::AttentionDims d;
  d.B = s.B;
  d.Tq = s.Tq;
  d.Tk = s.q_offset + s.Tq;
  d.q_offset = s.q_offset;
  d.n_heads = s.n_heads;
  d.n_kv_heads = s.n_kv_heads;
  d.head_dim = s.head_dim;
  const int q_dim = s.n_heads * s.head_dim, kv_dim = s.n_kv_heads * s.head_dim;
  d.ldq = q_dim + 3;  // padded rows: strides that are not multiples of the vectors
  d.ldk = d.ldv = kv_dim + 1;
  d.ldo = q_dim + 5;
  d.block = s.block;
  return d;
}

// q [B*Tq, ldq], k and v [B*Tk, ldk], dout [B*Tq, ldo].
struct Inputs {
  std::vector<float> q, k, v, dout;
};

Inputs make_inputs(const cpu::AttentionDims& d, Rng& rng) {
  // Scores of a few units: the softmax neither uniform nor one-hot.
  const double sd = 1.5 / std::pow(d.head_dim, 0.25);
  return {random_vector(static_cast<std::size_t>(d.B) * d.Tq * d.ldq, rng, sd),
          random_vector(static_cast<std::size_t>(d.B) * d.Tk * d.ldk, rng, sd),
          random_vector(static_cast<std::size_t>(d.B) * d.Tk * d.ldv, rng, 1.0),
          random_vector(static_cast<std::size_t>(d.B) * d.Tq * d.ldo, rng, 1.0)};
}

Result run(const cpu::AttentionDims& d, const Inputs& in, cpu::CpuIsa isa, int threads) {
  ThreadScope scope(threads);
  Result r;
  std::vector<float> scratch(cpu::attention_scratch_floats(d, threads, isa));
  r.out.assign(static_cast<std::size_t>(d.B) * d.Tq * d.ldo, NAN);
  r.lse.assign(static_cast<std::size_t>(d.B) * d.n_heads * d.Tq, NAN);
  cpu::attention_forward(r.out.data(), r.lse.data(), in.q.data(), in.k.data(), in.v.data(), d,
                         scratch.data(), threads, isa);
  std::vector<float> dq(in.q.size(), NAN), dk(in.k.size(), NAN), dv(in.v.size(), NAN);
  cpu::attention_backward(dq.data(), dk.data(), dv.data(), in.dout.data(), r.out.data(),
                          r.lse.data(), in.q.data(), in.k.data(), in.v.data(), d, scratch.data(),
                          threads, isa);
  r.dqkv = dq;
  r.dqkv.insert(r.dqkv.end(), dk.begin(), dk.end());
  r.dqkv.insert(r.dqkv.end(), dv.begin(), dv.end());
  return r;
}

// float64 reference of the used entries, in the order compare() lists them.
struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

Reference reference(const cpu::AttentionDims& d, const Inputs& in) {
  Reference ref;
  const int hd = d.head_dim, group = d.n_heads / d.n_kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  ref.out.assign(static_cast<std::size_t>(d.B) * d.Tq * d.n_heads * hd, 0.0);
  ref.lse.assign(static_cast<std::size_t>(d.B) * d.n_heads * d.Tq, 0.0);
  ref.dq.assign(ref.out.size(), 0.0);
  ref.dk.assign(static_cast<std::size_t>(d.B) * d.Tk * d.n_kv_heads * hd, 0.0);
  ref.dv.assign(ref.dk.size(), 0.0);
  auto at = [](const std::vector<float>& x, std::size_t row, int ld, int col) {
    return static_cast<double>(x[row * ld + col]);
  };
  for (int b = 0; b < d.B; ++b) {
    for (int h = 0; h < d.n_heads; ++h) {
      const int kvh = h / group;
      for (int i = 0; i < d.Tq; ++i) {
        const std::size_t qr = static_cast<std::size_t>(b) * d.Tq + i;
        const int nk = d.q_offset + i + 1;
        std::vector<double> p(nk), dp(nk);
        double mx = -INFINITY;
        for (int j = 0; j < nk; ++j) {
          const std::size_t kr = static_cast<std::size_t>(b) * d.Tk + j;
          double s = 0;
          for (int e = 0; e < hd; ++e)
            s += at(in.q, qr, d.ldq, h * hd + e) * at(in.k, kr, d.ldk, kvh * hd + e);
          p[j] = s * scale;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (int j = 0; j < nk; ++j) sum += std::exp(p[j] - mx);
        ref.lse[(static_cast<std::size_t>(b) * d.n_heads + h) * d.Tq + i] = mx + std::log(sum);
        for (int j = 0; j < nk; ++j) p[j] = std::exp(p[j] - mx) / sum;
        double delta = 0;
        for (int j = 0; j < nk; ++j) {
          const std::size_t kr = static_cast<std::size_t>(b) * d.Tk + j;
          double s = 0;
          for (int e = 0; e < hd; ++e) {
            ref.out[(qr * d.n_heads + h) * hd + e] += p[j] * at(in.v, kr, d.ldv, kvh * hd + e);
            s += at(in.dout, qr, d.ldo, h * hd + e) * at(in.v, kr, d.ldv, kvh * hd + e);
          }
          dp[j] = s;
          delta += p[j] * s;
        }
        for (int j = 0; j < nk; ++j) {
          const std::size_t kr = static_cast<std::size_t>(b) * d.Tk + j;
          const double ds = p[j] * (dp[j] - delta) * scale;
          for (int e = 0; e < hd; ++e) {
            ref.dq[(qr * d.n_heads + h) * hd + e] += ds * at(in.k, kr, d.ldk, kvh * hd + e);
            ref.dk[(kr * d.n_kv_heads + kvh) * hd + e] += ds * at(in.q, qr, d.ldq, h * hd + e);
            ref.dv[(kr * d.n_kv_heads + kvh) * hd + e] += p[j] * at(in.dout, qr, d.ldo, h * hd + e);
          }
        }
      }
    }
  }
  return ref;
}

// The used entries of a kernel's rows (row stride ld, heads x hd columns).
std::vector<float> used(const float* x, std::size_t rows, int ld, int cols) {
  std::vector<float> v;
  for (std::size_t r = 0; r < rows; ++r) v.insert(v.end(), x + r * ld, x + r * ld + cols);
  return v;
}

void check(const Shape& s, Rng& rng) {
  const cpu::AttentionDims d = dims_of(s);
  const Inputs in = make_inputs(d, rng);
  const Reference ref = reference(d, in);
  const std::size_t q_rows = static_cast<std::size_t>(d.B) * d.Tq;
  const std::size_t k_rows = static_cast<std::size_t>(d.B) * d.Tk;
  const int q_dim = d.n_heads * d.head_dim, kv_dim = d.n_kv_heads * d.head_dim;
  for (cpu::CpuIsa isa : isas()) {
    const Result r = run(d, in, isa, 2);
    const std::string where = std::string(isa_name(isa)) + " B " + std::to_string(s.B) + " Tq " +
                              std::to_string(s.Tq) + " offset " + std::to_string(s.q_offset) +
                              " heads " + std::to_string(s.n_heads) + "/" +
                              std::to_string(s.n_kv_heads) + " head_dim " +
                              std::to_string(s.head_dim) + " block " + std::to_string(s.block);
    // float32 dot products over up to ~200 terms and a float32 exp (~2 ulp).
    EXPECT_LT(relative_error(used(r.out.data(), q_rows, d.ldo, q_dim), ref.out), 2e-5) << where;
    EXPECT_LT(relative_error(r.lse, ref.lse), 2e-6) << where;
    const float* dq = r.dqkv.data();
    const float* dk = dq + in.q.size();
    const float* dv = dk + in.k.size();
    EXPECT_LT(relative_error(used(dq, q_rows, d.ldq, q_dim), ref.dq), 5e-5) << where << " dq";
    EXPECT_LT(relative_error(used(dk, k_rows, d.ldk, kv_dim), ref.dk), 5e-5) << where << " dk";
    EXPECT_LT(relative_error(used(dv, k_rows, d.ldv, kv_dim), ref.dv), 5e-5) << where << " dv";
    // The padding columns of out rows stay untouched (NaN in, NaN out).
    for (std::size_t r0 = 0; r0 < q_rows; ++r0) {
      ASSERT_TRUE(std::isnan(r.out[r0 * d.ldo + q_dim])) << where << " out padding written";
    }
  }
}

TEST(AttentionKernels, MatchFloat64OnTileRemainders) {
  Rng rng(11);
  const std::vector<Shape> shapes = {
      // head_dim across the vector widths and the 64-column chunks.
      {2, 67, 0, 4, 2, 1, 64},
      {1, 70, 0, 2, 2, 17, 64},
      {2, 65, 0, 2, 1, 32, 64},
      {1, 130, 0, 2, 2, 64, 64},
      {1, 66, 0, 2, 1, 65, 64},
      {1, 40, 0, 1, 1, 130, 64},
      // Query blocks that are not multiples of the micro-tiles; one-row blocks.
      {2, 100, 0, 3, 3, 48, 37},
      {1, 29, 0, 2, 1, 16, 5},
      {3, 1, 0, 2, 2, 8, 64},
      // Prefill after a cached prefix: key tiles straddle the first query.
      {1, 50, 27, 2, 1, 32, 64},
      {2, 70, 100, 2, 2, 24, 32},
  };
  for (const Shape& s : shapes) check(s, rng);
}

// Reductions are split by (sequence, head), never by thread: 1, 2 and 3
// threads give the same bits, in each implementation.
TEST(AttentionKernels, ThreadCountDoesNotChangeBits) {
  Rng rng(5);
  const cpu::AttentionDims d = dims_of({3, 97, 0, 4, 2, 40, 64});
  const Inputs in = make_inputs(d, rng);
  for (cpu::CpuIsa isa : isas()) {
    const Result one = run(d, in, isa, 1);
    for (int threads : {2, 3}) {
      const Result r = run(d, in, isa, threads);
      EXPECT_TRUE(std::equal(r.out.begin(), r.out.end(), one.out.begin(),
                             [](float a, float b) { return a == b || (a != a && b != b); }))
          << isa_name(isa) << " " << threads << " threads: out";
      EXPECT_EQ(r.lse, one.lse) << isa_name(isa) << " " << threads << " threads: lse";
      EXPECT_TRUE(std::equal(r.dqkv.begin(), r.dqkv.end(), one.dqkv.begin(),
                             [](float a, float b) { return a == b || (a != a && b != b); }))
          << isa_name(isa) << " " << threads << " threads: gradients";
    }
  }
}

}  // namespace
}  // namespace masque
