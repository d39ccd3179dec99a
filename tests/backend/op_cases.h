// One case builder per Backend op: given the op's sizes and an Rng, the
// arrays (random inputs; outputs that the op overwrites start as NaN, so a
// result never written shows), the call through the Backend interface only
// (no cpu:: functions: the same case checks every backend), the flop count
// for the perf mode, and the float64 reference with its tolerances and, for
// each backward, a finite-difference check of that reference against its
// forward (loss = sum(dout * forward)). op_tables.h draws the shapes.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "op_case.h"
#include "op_refs.h"
#include "op_refs_attention.h"

namespace masque::optest {

// "rows=33 in=65 out=7": a case's sizes for names and tables.
inline std::string sizes(std::initializer_list<std::pair<const char*, long long>> kv) {
  std::string s;
  for (const auto& [k, v] : kv)
    s += (s.empty() ? "" : " ") + std::string(k) + "=" + std::to_string(v);
  return s;
}
inline std::size_t sz(long long a, long long b = 1) { return static_cast<std::size_t>(a * b); }
inline OpCase make_case(std::string op, std::string shape, double flops = 0) {
  OpCase c;
  c.op = std::move(op);
  c.shape = std::move(shape);
  c.flops = flops;
  return c;
}

// ---- linear algebra -------------------------------------------------------------

// Row-major A [m, k] (or [k, m] when trans_a) etc., each row padded by `pad`
// floats so the leading dimensions are exercised. beta = 0: C starts NaN
// (BLAS semantics: C is not read).
inline OpCase gemm_case(bool ta, bool tb, int m, int n, int k, float alpha, float beta, int pad,
                        Rng& rng) {
  OpCase c = make_case("gemm",
                       sizes({{"ta", ta}, {"tb", tb}, {"m", m}, {"n", n}, {"k", k}, {"pad", pad}}) +
                           " alpha=" + std::to_string(alpha) + " beta=" + std::to_string(beta),
                       2.0 * m * n * k);
  const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const int a = c.in("A", random_floats(sz(ta ? k : m, lda), rng));
  const int b = c.in("B", random_floats(sz(tb ? n : k, ldb), rng));
  const int cc = c.inout("C", beta == 0 ? nans(sz(m, ldc)) : random_floats(sz(m, ldc), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.gemm(ta, tb, m, n, k, alpha, d.f32(a), lda, d.f32(b), ldb, beta, d.f32(cc), ldc);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::gemm(ta, tb, m, n, k, alpha, c.d(a), lda, c.d(b), ldb, beta, c.d(cc), ldc);
    r.expect(cc, std::move(o.value), std::move(o.tol));
  };
  return c;
}

inline OpCase matmul_forward_case(int rows, int in, int out_dim, bool accumulate, Rng& rng) {
  OpCase c = make_case("matmul_forward",
                       sizes({{"rows", rows}, {"in", in}, {"out", out_dim}, {"acc", accumulate}}),
                       2.0 * rows * in * out_dim);
  const int x = c.in("inp", random_floats(sz(rows, in), rng));
  const int w = c.in("weight", random_floats(sz(out_dim, in), rng, 1.0 / std::sqrt(in)));
  const int y = accumulate ? c.inout("out", random_floats(sz(rows, out_dim), rng))
                           : c.out("out", nans(sz(rows, out_dim)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.matmul_forward(d.f32(y), d.f32(x), d.f32(w), rows, in, out_dim, accumulate);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::matmul_forward(c.d(y), c.d(x), c.d(w), rows, in, out_dim, accumulate);
    r.expect(y, std::move(o.value), std::move(o.tol));
  };
  return c;
}

// The model's three forms: both gradients, dweight only (inp read), dinp
// only (inp passed as null: the op must not read it).
inline OpCase matmul_backward_case(int rows, int in, int out_dim, bool want_dinp, bool want_dweight,
                                   Rng& rng) {
  OpCase c = make_case("matmul_backward",
                       sizes({{"rows", rows},
                              {"in", in},
                              {"out", out_dim},
                              {"dinp", want_dinp},
                              {"dweight", want_dweight}}),
                       2.0 * rows * in * out_dim * ((want_dinp ? 1 : 0) + (want_dweight ? 1 : 0)));
  const int dy = c.in("dout", random_floats(sz(rows, out_dim), rng));
  const int x = c.in("inp", random_floats(sz(rows, in), rng));
  const int w = c.in("weight", random_floats(sz(out_dim, in), rng, 1.0 / std::sqrt(in)));
  const int dx = want_dinp ? c.out("dinp", nans(sz(rows, in))) : -1;
  const int dw = want_dweight ? c.inout("dweight", random_floats(sz(out_dim, in), rng)) : -1;
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.matmul_backward(dx < 0 ? nullptr : d.f32(dx), dw < 0 ? nullptr : d.f32(dw), d.f32(dy),
                       dw < 0 ? nullptr : d.f32(x), d.f32(w), rows, in, out_dim);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    const ref::Vec dyd = c.d(dy);
    ref::Vec xd = c.d(x), wd = c.d(w);
    if (dx >= 0) {
      ref::Out o = ref::matmul_dinp(c.d(dx), dyd, wd, rows, in, out_dim);
      r.expect(dx, std::move(o.value), std::move(o.tol));
    }
    if (dw >= 0) {
      ref::Out o = ref::matmul_dweight(c.d(dw), dyd, xd, rows, in, out_dim);
      r.expect(dw, std::move(o.value), std::move(o.tol));
    }
    auto loss = [&] {
      return dot(ref::matmul_forward(zeros(dyd.size()), xd, wd, rows, in, out_dim, false).value,
                 dyd);
    };
    const ref::Vec gx = ref::matmul_dinp(zeros(xd.size()), dyd, wd, rows, in, out_dim).value;
    const ref::Vec gw = ref::matmul_dweight(zeros(wd.size()), dyd, xd, rows, in, out_dim).value;
    r.gradients.push_back(finite_difference("matmul dinp", xd, gx, loss));
    r.gradients.push_back(finite_difference("matmul dweight", wd, gw, loss));
  };
  return c;
}

// ---- memory and elementwise ---------------------------------------------------

inline OpCase copy_case(int n, int src_off, int dst_off, int count, Rng& rng) {
  OpCase c = make_case(
      "copy", sizes({{"n", n}, {"src_off", src_off}, {"dst_off", dst_off}, {"count", count}}));
  const int src = c.in("src", random_floats(sz(n), rng));
  const int dst = c.inout("dst", random_floats(sz(n), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.copy(d.f32(dst) + dst_off, d.f32(src) + src_off, sz(count) * sizeof(float));
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::untouched(c.d(dst));
    const ref::Vec s = c.d(src);
    std::copy(s.begin() + src_off, s.begin() + src_off + count, o.value.begin() + dst_off);
    r.expect(dst, std::move(o.value), std::move(o.tol));
  };
  return c;
}

inline OpCase fill_zero_case(int n, int offset, int count, Rng& rng) {
  OpCase c = make_case("fill_zero", sizes({{"n", n}, {"offset", offset}, {"count", count}}));
  const int x = c.inout("x", random_floats(sz(n), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.fill_zero(d.f32(x) + offset, sz(count) * sizeof(float));
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::untouched(c.d(x));
    std::fill(o.value.begin() + offset, o.value.begin() + offset + count, 0.0);
    r.expect(x, std::move(o.value), std::move(o.tol));
  };
  return c;
}

inline OpCase add_inplace_case(int n, Rng& rng) {
  OpCase c = make_case("add_inplace", sizes({{"n", n}}), n);
  const int out = c.inout("out", random_floats(sz(n), rng));
  const int a = c.in("a", random_floats(sz(n), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) { be.add_inplace(d.f32(out), d.f32(a), sz(n)); };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::add(c.d(out), c.d(a));
    r.expect(out, std::move(o.value), std::move(o.tol));
  };
  return c;
}

inline OpCase scale_inplace_case(int n, float factor, Rng& rng) {
  OpCase c = make_case("scale_inplace", sizes({{"n", n}}) + " factor=" + std::to_string(factor), n);
  const int x = c.inout("x", random_floats(sz(n), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) { be.scale_inplace(d.f32(x), sz(n), factor); };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::scale(c.d(x), factor);
    r.expect(x, std::move(o.value), std::move(o.tol));
  };
  return c;
}

inline OpCase sum_squares_case(int n, Rng& rng) {
  OpCase c = make_case("sum_squares", sizes({{"n", n}}), 2.0 * n);
  const int x = c.in("x", random_floats(sz(n), rng));
  const int result = c.host_out_f64("result", 1);
  c.run = [=](const Backend& be, DeviceArrays& d) {
    d.f64(result)[0] = be.sum_squares(d.f32(x), sz(n));
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::sum_squares(c.d(x));
    r.expect(result, std::move(o.value), std::move(o.tol));
  };
  return c;
}

// ---- embedding ------------------------------------------------------------------

// Tokens drawn from the first `distinct` ids, so small `distinct` repeats
// tokens (the backward's scatter must add every occurrence).
inline std::vector<std::int32_t> random_tokens(int rows, int distinct, Rng& rng) {
  std::vector<std::int32_t> t(sz(rows));
  for (auto& v : t) v = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(distinct)));
  return t;
}

inline OpCase embedding_forward_case(int rows, int vocab, int dim, Rng& rng) {
  OpCase c =
      make_case("embedding_forward", sizes({{"rows", rows}, {"vocab", vocab}, {"dim", dim}}));
  const int tok = c.ints("tokens", random_tokens(rows, vocab, rng));
  const int table = c.in("table", random_floats(sz(vocab, dim), rng));
  const int out = c.out("out", nans(sz(rows, dim)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.embedding_forward(d.f32(out), d.i32(tok), d.f32(table), rows, dim);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::embedding_forward(c.ints_of(tok), c.d(table), dim);
    r.expect(out, std::move(o.value), std::move(o.tol));
  };
  return c;
}

inline OpCase embedding_backward_case(int rows, int vocab, int dim, int distinct, Rng& rng) {
  OpCase c =
      make_case("embedding_backward",
                sizes({{"rows", rows}, {"vocab", vocab}, {"dim", dim}, {"distinct", distinct}}),
                1.0 * rows * dim);
  const int tok = c.ints("tokens", random_tokens(rows, distinct, rng));
  const int dy = c.in("dout", random_floats(sz(rows, dim), rng));
  const int dt = c.inout("dtable", random_floats(sz(vocab, dim), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.embedding_backward(d.f32(dt), d.f32(dy), d.i32(tok), rows, dim);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    const auto& tokens = c.ints_of(tok);
    const ref::Vec dyd = c.d(dy);
    ref::Out o = ref::embedding_backward(c.d(dt), dyd, tokens, dim);
    r.expect(dt, std::move(o.value), std::move(o.tol));
    ref::Vec table = c.d(dt);  // any point: the map is linear
    auto loss = [&] { return dot(ref::embedding_forward(tokens, table, dim).value, dyd); };
    r.gradients.push_back(finite_difference(
        "embedding dtable", table,
        ref::embedding_backward(zeros(table.size()), dyd, tokens, dim).value, loss));
  };
  return c;
}

// ---- RMSNorm ----------------------------------------------------------------------

// Rows of unit-variance values; with zero_row, row 0 is all zeros (mean
// square 0: rstd = 1/sqrt(eps), out exactly 0).
inline std::vector<float> norm_input(int rows, int dim, bool zero_row, Rng& rng) {
  std::vector<float> x = random_floats(sz(rows, dim), rng);
  if (zero_row) std::fill(x.begin(), x.begin() + dim, 0.0f);
  return x;
}
inline std::vector<float> rstd_floats(const std::vector<float>& x, int rows, int dim, double eps) {
  const ref::Vec xd(x.begin(), x.end());
  std::vector<float> r(sz(rows));
  for (int i = 0; i < rows; ++i) r[i] = static_cast<float>(ref::rstd_of(xd, i, dim, eps));
  return r;
}

inline OpCase rmsnorm_forward_case(int rows, int dim, float eps, bool with_rstd, bool zero_row,
                                   Rng& rng) {
  OpCase c = make_case(
      "rmsnorm_forward",
      sizes({{"rows", rows}, {"dim", dim}, {"rstd", with_rstd}}) + " eps=" + std::to_string(eps),
      4.0 * rows * dim);
  const int x = c.in("inp", norm_input(rows, dim, zero_row, rng));
  const int w = c.in("weight", random_floats(sz(dim), rng));
  const int y = c.out("out", nans(sz(rows, dim)));
  const int rs = with_rstd ? c.out("rstd", nans(sz(rows))) : -1;
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.rmsnorm_forward(d.f32(y), rs < 0 ? nullptr : d.f32(rs), d.f32(x), d.f32(w), rows, dim, eps);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out out, rstd;
    ref::rmsnorm_forward(c.d(x), c.d(w), rows, dim, eps, &out, &rstd);
    r.expect(y, std::move(out.value), std::move(out.tol));
    if (rs >= 0) r.expect(rs, std::move(rstd.value), std::move(rstd.tol));
  };
  return c;
}

inline OpCase rmsnorm_apply_case(int rows, int dim, Rng& rng) {
  OpCase c = make_case("rmsnorm_apply", sizes({{"rows", rows}, {"dim", dim}}), 2.0 * rows * dim);
  std::vector<float> xv = norm_input(rows, dim, false, rng);
  const int rs = c.in("rstd", rstd_floats(xv, rows, dim, 1e-5));
  const int x = c.in("inp", std::move(xv));
  const int w = c.in("weight", random_floats(sz(dim), rng));
  const int y = c.out("out", nans(sz(rows, dim)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.rmsnorm_apply(d.f32(y), d.f32(rs), d.f32(x), d.f32(w), rows, dim);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::rmsnorm_apply(c.d(x), c.d(w), c.d(rs), rows, dim);
    r.expect(y, std::move(o.value), std::move(o.tol));
  };
  return c;
}

// rstd as the forward saves it (float of the exact value); the reference
// uses that float, the finite-difference check the exact one.
inline OpCase rmsnorm_backward_case(int rows, int dim, float eps, bool zero_row, Rng& rng) {
  OpCase c = make_case("rmsnorm_backward",
                       sizes({{"rows", rows}, {"dim", dim}}) + " eps=" + std::to_string(eps),
                       8.0 * rows * dim);
  std::vector<float> xv = norm_input(rows, dim, zero_row, rng);
  const int rs = c.in("rstd", rstd_floats(xv, rows, dim, eps));
  const int x = c.in("inp", std::move(xv));
  const int w = c.in("weight", random_floats(sz(dim), rng));
  const int dy = c.in("dout", random_floats(sz(rows, dim), rng));
  const int dx = c.inout("dinp", random_floats(sz(rows, dim), rng));
  const int dw = c.inout("dweight", random_floats(sz(dim), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.rmsnorm_backward(d.f32(dx), d.f32(dw), d.f32(dy), d.f32(x), d.f32(w), d.f32(rs), rows, dim);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Vec xd = c.d(x), wd = c.d(w);
    const ref::Vec dyd = c.d(dy);
    ref::Out gx, gw;
    ref::rmsnorm_backward(c.d(dx), c.d(dw), dyd, xd, wd, c.d(rs), rows, dim, &gx, &gw);
    r.expect(dx, std::move(gx.value), std::move(gx.tol));
    r.expect(dw, std::move(gw.value), std::move(gw.tol));
    ref::Vec exact(sz(rows));
    for (int i = 0; i < rows; ++i) exact[i] = ref::rstd_of(xd, i, dim, eps);
    ref::rmsnorm_backward(zeros(xd.size()), zeros(wd.size()), dyd, xd, wd, exact, rows, dim, &gx,
                          &gw);
    auto loss = [&] {
      ref::Out out, rstd;
      ref::rmsnorm_forward(xd, wd, rows, dim, eps, &out, &rstd);
      return dot(out.value, dyd);
    };
    r.gradients.push_back(finite_difference("rmsnorm dinp", xd, gx.value, loss));
    r.gradients.push_back(finite_difference("rmsnorm dweight", wd, gw.value, loss));
  };
  return c;
}

// ---- RoPE -------------------------------------------------------------------------

// Hugging Face's tables: angle = pos * theta^(-2i/head_dim), in double,
// rounded once (the op takes the tables as given).
inline void rope_tables(int max_pos, int head_dim, double theta, std::vector<float>* cos,
                        std::vector<float>* sin) {
  const int half = head_dim / 2;
  cos->assign(sz(max_pos, half), 0.0f);
  sin->assign(sz(max_pos, half), 0.0f);
  for (int p = 0; p < max_pos; ++p) {
    for (int i = 0; i < half; ++i) {
      const double angle = p * std::pow(theta, -2.0 * i / head_dim);
      (*cos)[sz(p, half) + i] = static_cast<float>(std::cos(angle));
      (*sin)[sz(p, half) + i] = static_cast<float>(std::sin(angle));
    }
  }
}

// Rotates n_heads heads starting at column col0 of rows of stride ld (the
// model's q at column 0 and k at q_dim of its fused q|k|v rows); positions
// per row, in any order (ragged batches, decoding). Backward: x is the
// gradient, rotated back.
inline OpCase rope_case(bool backward, int rows, int col0, int n_heads, int head_dim, int ld,
                        int max_pos, std::vector<std::int32_t> positions, Rng& rng) {
  OpCase c = make_case(
      backward ? "rope_backward" : "rope_forward",
      sizes(
          {{"rows", rows}, {"heads", n_heads}, {"head_dim", head_dim}, {"col0", col0}, {"ld", ld}}),
      3.0 * rows * n_heads * head_dim);
  std::vector<float> cos, sin;
  rope_tables(max_pos, head_dim, 10000.0, &cos, &sin);
  const int pos = c.ints("positions", std::move(positions));
  const int ct = c.in("cos", std::move(cos)), st = c.in("sin", std::move(sin));
  const int x = c.inout(backward ? "dx" : "x", random_floats(sz(rows, ld), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    if (backward) {
      be.rope_backward(d.f32(x) + col0, d.i32(pos), rows, n_heads, head_dim, ld, d.f32(ct),
                       d.f32(st));
    } else {
      be.rope_forward(d.f32(x) + col0, d.i32(pos), rows, n_heads, head_dim, ld, d.f32(ct),
                      d.f32(st));
    }
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    const auto& p = c.ints_of(pos);
    const ref::Vec cd = c.d(ct), sd = c.d(st);
    ref::Out o = ref::rope(c.d(x), p, col0, n_heads, head_dim, ld, cd, sd, backward);
    r.expect(x, std::move(o.value), std::move(o.tol));
    if (!backward) return;
    // The backward is the gradient of sum(dx * forward(y)) at any y (linear).
    const ref::Vec dy = c.d(x);
    ref::Vec y = dy;
    std::reverse(y.begin(), y.end());
    auto loss = [&] {
      return dot(ref::rope(y, p, col0, n_heads, head_dim, ld, cd, sd, false).value, dy);
    };
    r.gradients.push_back(finite_difference(
        "rope", y, ref::rope(dy, p, col0, n_heads, head_dim, ld, cd, sd, true).value, loss));
  };
  return c;
}

// ---- SwiGLU -------------------------------------------------------------------------

// gate|up rows with gate values up to |g| ~ 5 and, with saturate, a few far
// into exp's over- and underflow (the tails must stay finite and near 0 / g u).
inline std::vector<float> gate_up(int rows, int ff, bool saturate, Rng& rng) {
  std::vector<float> gu = random_floats(sz(rows, 2 * ff), rng, 3.0);
  if (saturate) {
    gu[0] = -120.0f;
    if (ff > 1) gu[1] = 95.0f;
    if (ff > 2) gu[2] = -88.5f;
  }
  return gu;
}

inline OpCase swiglu_forward_case(int rows, int ff, bool saturate, Rng& rng) {
  OpCase c = make_case("swiglu_forward", sizes({{"rows", rows}, {"ff", ff}}), 6.0 * rows * ff);
  const int gu = c.in("gate_up", gate_up(rows, ff, saturate, rng));
  const int h = c.out("out", nans(sz(rows, ff)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.swiglu_forward(d.f32(h), d.f32(gu), rows, ff);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::swiglu_forward(c.d(gu), rows, ff);
    r.expect(h, std::move(o.value), std::move(o.tol));
  };
  return c;
}

// in_place: dgate_up aliases gate_up, as the model calls it.
inline OpCase swiglu_backward_case(int rows, int ff, bool saturate, bool in_place, Rng& rng) {
  OpCase c =
      make_case("swiglu_backward", sizes({{"rows", rows}, {"ff", ff}, {"in_place", in_place}}),
                10.0 * rows * ff);
  const int dh = c.in("dout", random_floats(sz(rows, ff), rng));
  const int gu = in_place ? c.inout("gate_up", gate_up(rows, ff, saturate, rng))
                          : c.in("gate_up", gate_up(rows, ff, saturate, rng));
  const int dgu = in_place ? gu : c.out("dgate_up", nans(sz(rows, 2 * ff)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.swiglu_backward(d.f32(dgu), d.f32(dh), d.f32(gu), rows, ff);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Vec gud = c.d(gu);
    const ref::Vec dhd = c.d(dh);
    ref::Out o = ref::swiglu_backward(dhd, gud, rows, ff);
    r.expect(dgu, o.value, std::move(o.tol));
    auto loss = [&] { return dot(ref::swiglu_forward(gud, rows, ff).value, dhd); };
    r.gradients.push_back(finite_difference("swiglu dgate_up", gud, o.value, loss));
  };
  return c;
}

// ---- cross-entropy -------------------------------------------------------------------

// Targets in [0, vocab), a fraction `ignored` of them -1; logits of spread `spread`.
inline std::vector<std::int32_t> random_targets(int rows, int vocab, double ignored, Rng& rng) {
  std::vector<std::int32_t> t(sz(rows));
  for (auto& v : t)
    v = rng.uniform() < ignored ? -1 : static_cast<std::int32_t>(rng.below(sz(vocab)));
  return t;
}

inline OpCase cross_entropy_forward_case(int rows, int vocab, double ignored, double spread,
                                         Rng& rng) {
  OpCase c = make_case("cross_entropy_forward", sizes({{"rows", rows}, {"vocab", vocab}}),
                       4.0 * rows * vocab);
  const int x = c.in("logits", random_floats(sz(rows, vocab), rng, spread));
  const int t = c.ints("targets", random_targets(rows, vocab, ignored, rng));
  const int loss = c.out("losses", nans(sz(rows)));
  const int lse = c.out("lse", nans(sz(rows)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.cross_entropy_forward(d.f32(loss), d.f32(lse), d.f32(x), d.i32(t), rows, vocab);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out losses, lses;
    ref::cross_entropy_forward(c.d(x), c.ints_of(t), vocab, &losses, &lses);
    r.expect(loss, std::move(losses.value), std::move(losses.tol));
    r.expect(lse, std::move(lses.value), std::move(lses.tol));
  };
  return c;
}

// lse as the forward saves it (float of the exact value), NaN on ignored
// rows (nothing may read it there). in_place: dlogits aliases logits.
inline OpCase cross_entropy_backward_case(int rows, int vocab, double ignored, double spread,
                                          float scale, bool in_place, Rng& rng) {
  OpCase c = make_case("cross_entropy_backward",
                       sizes({{"rows", rows}, {"vocab", vocab}, {"in_place", in_place}}),
                       3.0 * rows * vocab);
  std::vector<float> logits = random_floats(sz(rows, vocab), rng, spread);
  std::vector<std::int32_t> targets = random_targets(rows, vocab, ignored, rng);
  ref::Out losses, lses;
  ref::cross_entropy_forward({logits.begin(), logits.end()}, targets, vocab, &losses, &lses);
  std::vector<float> lse_f(sz(rows));
  for (int i = 0; i < rows; ++i)
    lse_f[i] = targets[i] < 0 ? std::nanf("") : static_cast<float>(lses.value[i]);
  const int x = in_place ? c.inout("logits", std::move(logits)) : c.in("logits", std::move(logits));
  const int t = c.ints("targets", std::move(targets));
  const int lse = c.in("lse", std::move(lse_f));
  const int dx = in_place ? x : c.out("dlogits", nans(sz(rows, vocab)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.cross_entropy_backward(d.f32(dx), d.f32(x), d.f32(lse), d.i32(t), rows, vocab, scale);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Vec xd = c.d(x);
    const auto& tg = c.ints_of(t);
    ref::Out o = ref::cross_entropy_backward(xd, c.d(lse), tg, vocab, scale);
    r.expect(dx, std::move(o.value), std::move(o.tol));
    ref::Out l, exact_lse;
    ref::cross_entropy_forward(xd, tg, vocab, &l, &exact_lse);
    auto loss = [&] {
      ref::Out per_row, unused;
      ref::cross_entropy_forward(xd, tg, vocab, &per_row, &unused);
      double total = 0;
      for (double v : per_row.value) total += v;
      return scale * total;
    };
    const ref::Vec analytic =
        ref::cross_entropy_backward(xd, exact_lse.value, tg, vocab, scale).value;
    r.gradients.push_back(finite_difference("cross-entropy dlogits", xd, analytic, loss));
  };
  return c;
}

// ---- LM head fused with cross-entropy -----------------------------------------------

// x [rows, dim], w [vocab, dim] scaled so the logits spread ~2; the first
// third of the rows masked as an SFT prompt, then a fraction `ignored` at
// random. Gradient weights: the mean over valid targets, or (weighted) one
// weight per run of 7 rows, as DPO's per-sequence weights. finite_diff:
// check the float64 dx and dw against the weighted loss (small shapes only).
inline OpCase lm_head_loss_case(int rows, int dim, int vocab, double ignored, bool weighted,
                                bool backward, bool finite_diff, Rng& rng) {
  OpCase c = make_case("lm_head_loss",
                       sizes({{"rows", rows},
                              {"d", dim},
                              {"vocab", vocab},
                              {"weighted", weighted},
                              {"backward", backward}}),
                       (backward ? 6.0 : 2.0) * rows * dim * vocab);
  const int x = c.in("x", random_floats(sz(rows, dim), rng));
  const int w = c.in("w", random_floats(sz(vocab, dim), rng, 1.2 / std::sqrt(dim)));
  std::vector<std::int32_t> targets = random_targets(rows, vocab, ignored, rng);
  std::fill_n(targets.begin(), rows / 3, -1);
  const auto valid = std::count_if(targets.begin(), targets.end(), [](int t) { return t >= 0; });
  std::vector<float> scales(sz(rows), 1.0f / static_cast<float>(std::max<long>(valid, 1)));
  if (weighted) {
    for (int r = 0; r < rows; r += 7) {
      const float s = static_cast<float>(rng.uniform() - 0.3);
      std::fill_n(scales.begin() + r, std::min(7, rows - r), s);
    }
  }
  const int t = c.host_ints("targets", std::move(targets));
  const int s = c.host_in("row_scale", std::move(scales));
  const int loss = c.host_out("losses", nans(sz(rows)));
  const int dx = backward ? c.out("dx", nans(sz(rows, dim))) : -1;
  const int dw = backward ? c.inout("dw", random_floats(sz(vocab, dim), rng, 0.01)) : -1;
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.lm_head_loss(d.f32(loss), backward ? d.f32(dx) : nullptr, backward ? d.f32(dw) : nullptr,
                    d.f32(x), d.f32(w), d.i32(t), d.f32(s), rows, dim, vocab, d.workspace());
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Vec xd = c.d(x), wd = c.d(w);
    const ref::Vec sd = c.d(s);
    const auto& tg = c.ints_of(t);
    const ref::Vec dw0 = backward ? c.d(dw) : ref::Vec(sz(vocab, dim), 0.0);
    ref::HeadLoss o = ref::lm_head_loss(xd, wd, tg, sd, dw0, rows, dim, vocab, backward);
    r.expect(loss, std::move(o.losses.value), std::move(o.losses.tol));
    if (!backward) return;
    if (finite_diff) {
      auto total = [&] { return ref::lm_head_weighted_loss(xd, wd, tg, sd, rows, dim, vocab); };
      r.gradients.push_back(finite_difference("lm head dx", xd, o.dx.value, total));
      ref::Vec dw_only = o.dw.value;
      for (std::size_t i = 0; i < dw_only.size(); ++i) dw_only[i] -= dw0[i];
      r.gradients.push_back(finite_difference("lm head dw", wd, dw_only, total));
    }
    r.expect(dx, std::move(o.dx.value), std::move(o.dx.tol));
    r.expect(dw, std::move(o.dw.value), std::move(o.dw.tol));
  };
  return c;
}

// ---- AdamW ------------------------------------------------------------------------------

// One update from a random state (v >= 0; some zero gradients and zero v,
// where eps carries the denominator). mask: 0/1 per element, or null (all decay).
inline OpCase adamw_case(int n, bool with_mask, std::int64_t step, Rng& rng) {
  OpCase c =
      make_case("adamw_update", sizes({{"n", n}, {"mask", with_mask}, {"step", step}}), 14.0 * n);
  std::vector<float> g = random_floats(sz(n), rng, 0.1), v = random_floats(sz(n), rng, 0.01);
  for (auto& x : v) x *= x;
  for (int i = 0; i < n; i += 7) g[i] = v[i] = 0.0f;
  std::vector<float> mask(sz(n));
  for (auto& m : mask) m = rng.below(3) == 0 ? 0.0f : 1.0f;
  const int p = c.inout("param", random_floats(sz(n), rng, 0.1));
  const int gr = c.in("grad", std::move(g));
  const int m = c.inout("m", random_floats(sz(n), rng, 0.01));
  const int vv = c.inout("v", std::move(v));
  const int mk = with_mask ? c.in("decay_mask", std::move(mask)) : -1;
  AdamWHyper hyper;
  hyper.lr = 3e-3f;
  hyper.weight_decay = 0.1f;
  hyper.step = step;
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.adamw_update(d.f32(p), d.f32(gr), d.f32(m), d.f32(vv), mk < 0 ? nullptr : d.f32(mk), sz(n),
                    hyper);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    const ref::Vec maskd = mk < 0 ? ref::Vec{} : c.d(mk);
    ref::Out po, mo, vo;
    ref::adamw(c.d(p), c.d(gr), c.d(m), c.d(vv), mk < 0 ? nullptr : &maskd, hyper, &po, &mo, &vo);
    r.expect(p, std::move(po.value), std::move(po.tol));
    r.expect(m, std::move(mo.value), std::move(mo.tol));
    r.expect(vv, std::move(vo.value), std::move(vo.tol));
  };
  return c;
}

// ---- interventions --------------------------------------------------------------------

// `count` distinct rows of [0, n_rows) in random order (host array, as the
// interface takes them), then `repeats` of them listed again (a row listed
// twice is changed twice, in order, on every backend).
inline std::vector<std::int32_t> random_rows(int n_rows, int count, Rng& rng, int repeats = 0) {
  std::vector<std::int32_t> all(sz(n_rows));
  for (int i = 0; i < n_rows; ++i) all[i] = i;
  for (int i = n_rows - 1; i > 0; --i) std::swap(all[i], all[rng.below(sz(i + 1))]);
  all.resize(sz(std::min(count, n_rows)));
  for (int i = 0; i < repeats && !all.empty(); ++i) all.push_back(all[rng.below(all.size())]);
  return all;
}

inline OpCase add_vector_rows_case(int n_rows, int dim, int count, float alpha, Rng& rng,
                                   int repeats = 0) {
  const std::vector<std::int32_t> rows = random_rows(n_rows, count, rng, repeats);
  OpCase c =
      make_case("add_vector_rows",
                sizes({{"rows", n_rows}, {"dim", dim}, {"listed", count}, {"repeated", repeats}}),
                2.0 * count * dim);
  const int x = c.inout("x", random_floats(sz(n_rows, dim), rng));
  const int vec = c.in("vec", random_floats(sz(dim), rng));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.add_vector_rows(d.f32(x), dim, rows, d.f32(vec), alpha);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::add_vector_rows(c.d(x), dim, rows, c.d(vec), alpha);
    r.expect(x, std::move(o.value), std::move(o.tol));
  };
  return c;
}

// The finite-difference check verifies the interface's claim that the op is
// its own backward (P = I - u u^T is symmetric).
inline OpCase project_out_rows_case(int n_rows, int dim, int count, Rng& rng, int repeats = 0) {
  const std::vector<std::int32_t> rows = random_rows(n_rows, count, rng, repeats);
  OpCase c =
      make_case("project_out_rows",
                sizes({{"rows", n_rows}, {"dim", dim}, {"listed", count}, {"repeated", repeats}}),
                4.0 * count * dim);
  std::vector<float> u = random_floats(sz(dim), rng);
  double norm = 0;
  for (float v : u) norm += static_cast<double>(v) * v;
  for (auto& v : u) v = static_cast<float>(v / std::sqrt(norm));
  const int x = c.inout("x", random_floats(sz(n_rows, dim), rng));
  const int unit = c.in("unit", std::move(u));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.project_out_rows(d.f32(x), dim, rows, d.f32(unit));
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    const ref::Vec xd = c.d(x), ud = c.d(unit);
    ref::Out o = ref::project_out_rows(xd, dim, rows, ud);
    r.expect(x, std::move(o.value), std::move(o.tol));
    ref::Vec y = xd;
    std::reverse(y.begin(), y.end());
    auto loss = [&] { return dot(ref::project_out_rows(y, dim, rows, ud).value, xd); };
    r.gradients.push_back(finite_difference("project_out_rows (its own backward)", y,
                                            ref::project_out_rows(xd, dim, rows, ud).value, loss));
  };
  return c;
}

inline OpCase gather_rows_case(int n_rows, int dim, int count, Rng& rng) {
  const std::vector<std::int32_t> rows = random_rows(n_rows, count, rng);
  OpCase c = make_case("gather_rows", sizes({{"rows", n_rows}, {"dim", dim}, {"listed", count}}));
  const int x = c.in("x", random_floats(sz(n_rows, dim), rng));
  const int out = c.host_out("host_out", nans(sz(rows.size(), dim)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    be.gather_rows(d.f32(out), d.f32(x), dim, rows);
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Out o = ref::gather_rows(c.d(x), dim, rows);
    r.expect(out, std::move(o.value), std::move(o.tol));
  };
  return c;
}

}  // namespace masque::optest
