// Float64 references for every Backend op, written from the equations
// (independent of the kernels), each returning the expected value of every
// output element and its tolerance. A tolerance is kSlack * K * u * mag:
// K counts the float32 roundings an output element goes through and mag is
// the magnitude their errors scale with (the sum of |terms| for a sum, so
// cancellation cannot make a correct result look wrong). The derivation of
// K and mag for each op is next to it and tabulated in docs/backend.md.
// Inputs are the float32 arrays the backend receives, read exactly as
// doubles, so the only difference left is the backend's own rounding.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "op_case.h"

namespace masque::optest::ref {

using Vec = std::vector<double>;
using Ints = std::vector<std::int32_t>;

// Expected value and tolerance of every element of one array.
struct Out {
  Vec value, tol;
};
inline double tol_of(double k, double mag) { return kSlack * k * kUnit * mag; }
// An output array whose elements the op does not touch keep their initial value exactly.
inline Out untouched(const Vec& initial) { return {initial, zeros(initial.size())}; }
inline std::size_t at(int row, int ld, int col) {
  return static_cast<std::size_t>(row) * static_cast<std::size_t>(ld) +
         static_cast<std::size_t>(col);
}

// ---- linear algebra ---------------------------------------------------------

// C [m, n] (stride ldc) = alpha op(A) op(B) + beta C, row-major. A float32
// dot of length k has |err| <= gamma_k sum |a b| in any summation order
// (Higham, Accuracy and Stability, Thm 3.5; blocked, split-K and FMA alike);
// alpha, beta * C and the final add are 3 more roundings: K = k + 3,
// mag = |alpha| sum |a b| + |beta c|. With beta = 0, C is not read (the
// test fills it with NaN).
inline Out gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const Vec& a,
                int lda, const Vec& b, int ldb, double beta, const Vec& c, int ldc) {
  Out o = untouched(c);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = 0, mag = 0;
      for (int p = 0; p < k; ++p) {
        const double av = trans_a ? a[at(p, lda, i)] : a[at(i, lda, p)];
        const double bv = trans_b ? b[at(j, ldb, p)] : b[at(p, ldb, j)];
        sum += av * bv;
        mag += std::abs(av * bv);
      }
      const std::size_t idx = at(i, ldc, j);
      double value = alpha * sum;
      mag *= std::abs(alpha);
      if (beta != 0) {
        value += beta * c[idx];
        mag += std::abs(beta * c[idx]);
      }
      o.value[idx] = value;
      o.tol[idx] = tol_of(k + 3, mag);
    }
  }
  return o;
}

// matmul_forward: out [rows, out_dim] (=, or += when accumulate) inp [rows, in] @ weight[out_dim,
// in]^T.
inline Out matmul_forward(const Vec& out0, const Vec& x, const Vec& w, int rows, int in,
                          int out_dim, bool acc) {
  return gemm(false, true, rows, out_dim, in, 1.0, x, in, w, in, acc ? 1.0 : 0.0, out0, out_dim);
}
// matmul_backward: dinp = dout @ weight (overwritten), dweight += dout^T @ inp.
inline Out matmul_dinp(const Vec& dinp0, const Vec& dout, const Vec& w, int rows, int in,
                       int out_dim) {
  return gemm(false, false, rows, in, out_dim, 1.0, dout, out_dim, w, in, 0.0, dinp0, in);
}
inline Out matmul_dweight(const Vec& dw0, const Vec& dout, const Vec& x, int rows, int in,
                          int out_dim) {
  return gemm(true, false, out_dim, in, rows, 1.0, dout, out_dim, x, in, 1.0, dw0, in);
}

// ---- elementwise --------------------------------------------------------------

// One correctly rounded operation: |err| <= u |exact| (K = 1, no slack).
inline Out add(const Vec& out0, const Vec& a) {
  Out o = untouched(out0);
  for (std::size_t i = 0; i < a.size(); ++i) {
    o.value[i] = out0[i] + a[i];
    o.tol[i] = kUnit * std::abs(o.value[i]);
  }
  return o;
}
inline Out scale(const Vec& x, double factor) {
  Out o = untouched(x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    o.value[i] = x[i] * factor;
    o.tol[i] = kUnit * std::abs(o.value[i]);
  }
  return o;
}

// Sum of squares, promised in float64: squares of floats are exact in
// double, and a float64 sum of n nonnegative terms errs by at most
// n 2^-53 of the sum. The reference is compensated (Neumaier), so its own
// error is ~2^-53. A float32 accumulator (~n 2^-24) fails this.
inline Out sum_squares(const Vec& x) {
  double sum = 0, comp = 0;
  for (double v : x) {
    const double t = v * v, s = sum + t;
    comp += std::abs(sum) >= t ? (sum - s) + t : (t - s) + sum;
    sum = s;
  }
  sum += comp;
  return {{sum}, {kSlack * static_cast<double>(x.size() + 1) * 0x1p-53 * sum}};
}

// ---- embedding --------------------------------------------------------------

// Forward is a copy: exact.
inline Out embedding_forward(const Ints& tokens, const Vec& table, int dim) {
  Out o{Vec(tokens.size() * static_cast<std::size_t>(dim)),
        zeros(tokens.size() * static_cast<std::size_t>(dim))};
  for (std::size_t r = 0; r < tokens.size(); ++r) {
    for (int i = 0; i < dim; ++i) o.value[r * dim + i] = table[at(tokens[r], dim, i)];
  }
  return o;
}
// dtable[t] += the sum of dout over the rows holding token t: count(t) adds in
// some order, K = count(t), mag = |dtable| + sum |dout| (rows without the
// token: untouched).
inline Out embedding_backward(const Vec& dtable0, const Vec& dout, const Ints& tokens, int dim) {
  Out o = untouched(dtable0);
  Vec mag(dtable0.size()), count(dtable0.size(), 0.0);
  for (std::size_t i = 0; i < mag.size(); ++i) mag[i] = std::abs(dtable0[i]);
  for (std::size_t r = 0; r < tokens.size(); ++r) {
    for (int i = 0; i < dim; ++i) {
      const std::size_t idx = at(tokens[r], dim, i);
      o.value[idx] += dout[r * dim + i];
      mag[idx] += std::abs(dout[r * dim + i]);
      count[idx] += 1;
    }
  }
  for (std::size_t i = 0; i < mag.size(); ++i) o.tol[i] = tol_of(count[i], mag[i]);
  return o;
}

// ---- RMSNorm ----------------------------------------------------------------

inline double rstd_of(const Vec& x, int row, int dim, double eps) {
  double ms = 0;
  for (int i = 0; i < dim; ++i) ms += x[at(row, dim, i)] * x[at(row, dim, i)];
  return 1.0 / std::sqrt(ms / dim + eps);
}
// out = w * x * r, r = 1/sqrt(mean(x^2) + eps). The mean of dim nonnegative
// squares errs by gamma_{dim+1} relative (no cancellation); + eps, sqrt
// (halves the relative error, adds u), 1/, * x, * w: K = dim/2 + 6 for out,
// dim/2 + 4 for rstd, both relative to the value.
inline void rmsnorm_forward(const Vec& x, const Vec& w, int rows, int dim, double eps, Out* out,
                            Out* rstd) {
  *out = {Vec(x.size()), Vec(x.size())};
  *rstd = {Vec(rows), Vec(rows)};
  for (int r = 0; r < rows; ++r) {
    const double rs = rstd_of(x, r, dim, eps);
    rstd->value[r] = rs;
    rstd->tol[r] = tol_of(dim / 2.0 + 4, rs);
    for (int i = 0; i < dim; ++i) {
      const double v = w[i] * x[at(r, dim, i)] * rs;
      out->value[at(r, dim, i)] = v;
      out->tol[at(r, dim, i)] = tol_of(dim / 2.0 + 6, std::abs(v));
    }
  }
}
// rmsnorm_apply with a given rstd: two products, K = 2 relative.
inline Out rmsnorm_apply(const Vec& x, const Vec& w, const Vec& rstd, int rows, int dim) {
  Out o{Vec(x.size()), Vec(x.size())};
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < dim; ++i) {
      o.value[at(r, dim, i)] = w[i] * x[at(r, dim, i)] * rstd[r];
      o.tol[at(r, dim, i)] = tol_of(2, std::abs(o.value[at(r, dim, i)]));
    }
  }
  return o;
}
// dx = dx0 + r (w dy - x r^2 mean(w dy x)); dw = dw0 + sum_rows dy x r, with r
// the given rstd. The dot of dim triple products is gamma_{dim+1} of
// sum |w dy x|; coef = dot r r / dim, x * coef, w * dy, the subtraction, * r
// and += add 7: K = dim + 8, mag = |dx0| + r |w dy| + r^3 |x| sum|w dy x| / dim.
// dw: rows adds of 2-rounding terms, K = rows + 2, mag = |dw0| + sum |dy x r|.
inline void rmsnorm_backward(const Vec& dx0, const Vec& dw0, const Vec& dy, const Vec& x,
                             const Vec& w, const Vec& rstd, int rows, int dim, Out* dx, Out* dw) {
  *dx = untouched(dx0);
  *dw = untouched(dw0);
  Vec dw_mag(dim);
  for (int i = 0; i < dim; ++i) dw_mag[i] = std::abs(dw0[i]);
  for (int r = 0; r < rows; ++r) {
    const double rs = rstd[r];
    double dot = 0, dot_mag = 0;
    for (int i = 0; i < dim; ++i) {
      const double t = w[i] * dy[at(r, dim, i)] * x[at(r, dim, i)];
      dot += t;
      dot_mag += std::abs(t);
    }
    for (int i = 0; i < dim; ++i) {
      const std::size_t idx = at(r, dim, i);
      dx->value[idx] += rs * (w[i] * dy[idx] - x[idx] * rs * rs * dot / dim);
      const double mag = std::abs(dx0[idx]) + rs * std::abs(w[i] * dy[idx]) +
                         rs * rs * rs * std::abs(x[idx]) * dot_mag / dim;
      dx->tol[idx] = tol_of(dim + 8, mag);
      dw->value[i] += dy[idx] * x[idx] * rs;
      dw_mag[i] += std::abs(dy[idx] * x[idx] * rs);
    }
  }
  for (int i = 0; i < dim; ++i) dw->tol[i] = tol_of(rows + 2, dw_mag[i]);
}

// ---- RoPE -------------------------------------------------------------------

// In place on rows of stride ld (n_heads heads of head_dim from column col0;
// other columns untouched), row r at positions[r], with the given float
// tables [max_pos, head_dim/2]. Forward (a, b) -> (a c - b s, b c + a s);
// backward is the transpose (s negated). Two products and a sum: K = 2,
// mag = |a c| + |b s|.
inline Out rope(const Vec& x, const Ints& positions, int col0, int n_heads, int head_dim, int ld,
                const Vec& cos, const Vec& sin, bool backward) {
  Out o = untouched(x);
  const int half = head_dim / 2;
  const double sign = backward ? -1.0 : 1.0;
  for (std::size_t r = 0; r < positions.size(); ++r) {
    for (int h = 0; h < n_heads; ++h) {
      for (int i = 0; i < half; ++i) {
        const std::size_t ia = r * ld + col0 + static_cast<std::size_t>(h) * head_dim + i,
                          ib = ia + half;
        const double c = cos[at(positions[r], half, i)], s = sign * sin[at(positions[r], half, i)];
        o.value[ia] = x[ia] * c - x[ib] * s;
        o.value[ib] = x[ib] * c + x[ia] * s;
        const double mag = std::abs(x[ia] * c) + std::abs(x[ib] * s);
        const double mag_b = std::abs(x[ib] * c) + std::abs(x[ia] * s);
        o.tol[ia] = tol_of(2, mag);
        o.tol[ib] = tol_of(2, mag_b);
      }
    }
  }
  return o;
}

// ---- SwiGLU -------------------------------------------------------------------

inline double sigmoid(double g) { return 1.0 / (1.0 + std::exp(-g)); }
// h = silu(g) u = g sigmoid(g) u with gate|up rows [rows, 2ff]. sigmoid:
// exp (<= 2 ulp = 4u), 1 +, 1 /; then * g, * u: K = 8 relative. Where
// sigmoid(g) drops below float32's normal range (g < -87) the kernel's value
// is any tiny number: + kTiny |g u|.
inline Out swiglu_forward(const Vec& gu, int rows, int ff) {
  Out o{Vec(static_cast<std::size_t>(rows) * ff), Vec(static_cast<std::size_t>(rows) * ff)};
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < ff; ++i) {
      const double g = gu[at(r, 2 * ff, i)], u = gu[at(r, 2 * ff, ff + i)];
      o.value[at(r, ff, i)] = g * sigmoid(g) * u;
      o.tol[at(r, ff, i)] = tol_of(8, std::abs(o.value[at(r, ff, i)])) + kTiny * std::abs(g * u);
    }
  }
  return o;
}
// dg = dh u s (1 + g (1 - s)), du = dh g s, s = sigmoid(g). du: K = 8 as the
// forward. dg: 1 - s has absolute error ~7u (s's 6u, the subtraction), so
// g (1 - s) errs by ~8u |g| and 1 + g (1 - s) may cancel (g near -1.28):
// mag = |dh u| s (1 + |g|), K = 18 (8 + the sigmoid's 6 + 4 products/adds).
inline Out swiglu_backward(const Vec& dh, const Vec& gu, int rows, int ff) {
  Out o{Vec(gu.size()), Vec(gu.size())};
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < ff; ++i) {
      const double g = gu[at(r, 2 * ff, i)], u = gu[at(r, 2 * ff, ff + i)], d = dh[at(r, ff, i)];
      const double s = sigmoid(g);
      const std::size_t ig = at(r, 2 * ff, i), iu = at(r, 2 * ff, ff + i);
      o.value[ig] = d * u * s * (1.0 + g * (1.0 - s));
      o.value[iu] = d * g * s;
      o.tol[ig] = tol_of(18, std::abs(d * u) * s * (1.0 + std::abs(g))) +
                  kTiny * std::abs(d * u) * (1 + std::abs(g));
      o.tol[iu] = tol_of(8, std::abs(o.value[iu])) + kTiny * std::abs(d * g);
    }
  }
  return o;
}

// ---- cross-entropy ----------------------------------------------------------

// Per row: lse = m + log sum exp(x - m), loss = lse - x[t] (0 when t = -1).
// x - m rounds (u |x - m|), exp 4u, the sum of V positive terms gamma_V: the
// sum's relative error <= (V + 4 + D) u with D = max |x - m|, an absolute
// error of the log; log and + m round once each. tol_lse = c u (V + 4 + D +
// |log sum| + |lse|); the loss adds one rounding of |loss|. lse of ignored
// rows is not checked (nothing reads it).
inline void cross_entropy_forward(const Vec& logits, const Ints& targets, int vocab, Out* losses,
                                  Out* lse) {
  const std::size_t rows = targets.size();
  *losses = {Vec(rows), Vec(rows)};
  *lse = {Vec(rows), Vec(rows)};
  for (std::size_t r = 0; r < rows; ++r) {
    const double* x = logits.data() + r * vocab;
    const double m = *std::max_element(x, x + vocab);
    double sum = 0, spread = 0;
    for (int v = 0; v < vocab; ++v) {
      sum += std::exp(x[v] - m);
      spread = std::max(spread, m - x[v]);
    }
    const double l = m + std::log(sum);
    const double tol = kSlack * kUnit * (vocab + 4 + spread + std::log(sum) + std::abs(l));
    lse->value[r] = l;
    lse->tol[r] = targets[r] < 0 ? INFINITY : tol;
    losses->value[r] = targets[r] < 0 ? 0.0 : l - x[targets[r]];
    losses->tol[r] = targets[r] < 0 ? 0.0 : tol + kSlack * kUnit * std::abs(losses->value[r]);
  }
}
// dlogits = scale (p - onehot(t)), p = exp(x - lse) with the given lse; 0 for
// ignored rows (exact). x - lse rounds (u |x - lse|), exp 4u, * scale u:
// mag = |scale| p (6 + |x - lse|), K = 1; at the target the subtraction of
// scale adds 2u |scale|.
inline Out cross_entropy_backward(const Vec& logits, const Vec& lse, const Ints& targets, int vocab,
                                  double scale) {
  Out o{Vec(logits.size(), 0.0), Vec(logits.size(), 0.0)};
  for (std::size_t r = 0; r < targets.size(); ++r) {
    if (targets[r] < 0) continue;
    for (int v = 0; v < vocab; ++v) {
      const std::size_t idx = r * vocab + v;
      const double p = std::exp(logits[idx] - lse[r]);
      const bool hit = v == targets[r];
      o.value[idx] = scale * (p - (hit ? 1.0 : 0.0));
      o.tol[idx] =
          tol_of(1, std::abs(scale) * (p * (6 + std::abs(logits[idx] - lse[r])) + (hit ? 2 : 0)));
    }
  }
  return o;
}

// ---- LM head fused with cross-entropy ----------------------------------------

// z = x w^T, then per row as cross_entropy_forward/backward with gradient
// weight s_r: loss_r = lse_r - z_t, g = s_r (softmax(z) - onehot(t)),
// dx = g w, dw = dw0 + g^T x. The float32 logits carry the GEMM's error
// ez = c u (d + 3) sum_j |x w|; a shift of the logits by at most max ez moves
// lse by at most max ez (softmax weights sum to 1) and p by p (ez + max ez).
// g is e * (s / sum) with e = exp(z - m): exp 4u, z - m u |z - m|, the sum of
// V positive terms (V + 4) u relative, two more roundings, and 2u |s| at the
// target. dx and dw are sums of V (resp. rows + dw0) products of g: their
// tolerance carries each term's g error times |w| (|x|) plus the sum's own
// rounding, gamma_{V+3} (gamma_{rows+3}) of sum |g w| (|g x| + |dw0|).
inline std::size_t n_of(long long a, long long b = 1) { return static_cast<std::size_t>(a * b); }
struct HeadLoss {
  Out losses, dx, dw;
};
inline HeadLoss lm_head_loss(const Vec& x, const Vec& w, const Ints& targets, const Vec& row_scale,
                             const Vec& dw0, int rows, int d, int vocab, bool backward) {
  const std::size_t V = static_cast<std::size_t>(vocab);
  HeadLoss o;
  o.losses = {Vec(n_of(rows)), Vec(n_of(rows))};
  if (backward) {
    o.dx = {Vec(n_of(rows, d), 0.0), Vec(n_of(rows, d), 0.0)};
    o.dw = untouched(dw0);
  }
  Vec dw_mag(dw0.size());
  for (std::size_t i = 0; i < dw0.size(); ++i) dw_mag[i] = std::abs(dw0[i]);
  Vec dw_err(dw0.size(), 0.0);
  Vec z(V), ez(V), g(V), eg(V);
  for (int r = 0; r < rows; ++r) {
    const int t = targets[n_of(r)];
    if (t < 0) {
      o.losses.value[n_of(r)] = 0.0;
      o.losses.tol[n_of(r)] = 0.0;
      continue;
    }
    double m = -INFINITY, max_ez = 0;
    for (std::size_t v = 0; v < V; ++v) {
      double sum = 0, mag = 0;
      for (int j = 0; j < d; ++j) {
        sum += x[at(r, d, j)] * w[v * d + j];
        mag += std::abs(x[at(r, d, j)] * w[v * d + j]);
      }
      z[v] = sum;
      ez[v] = tol_of(d + 3, mag);
      m = std::max(m, sum);
      max_ez = std::max(max_ez, ez[v]);
    }
    double sum = 0, spread = 0;
    for (std::size_t v = 0; v < V; ++v) {
      sum += std::exp(z[v] - m);
      spread = std::max(spread, m - z[v]);
    }
    const double lse = m + std::log(sum);
    const double tol_lse =
        kSlack * kUnit * (vocab + 4 + spread + std::log(sum) + std::abs(lse)) + max_ez;
    const double loss = lse - z[n_of(t)];
    o.losses.value[n_of(r)] = loss;
    o.losses.tol[n_of(r)] = tol_lse + ez[n_of(t)] + kSlack * kUnit * std::abs(loss);
    if (!backward) continue;
    const double s = row_scale[n_of(r)];
    for (std::size_t v = 0; v < V; ++v) {
      const double p = std::exp(z[v] - lse);
      const bool hit = static_cast<int>(v) == t;
      g[v] = s * (p - (hit ? 1.0 : 0.0));
      eg[v] =
          std::abs(s) * (p * (kSlack * kUnit * (std::abs(z[v] - m) + vocab + 8) + ez[v] + tol_lse) +
                         (hit ? 2 * kSlack * kUnit : 0.0));
    }
    for (int j = 0; j < d; ++j) {
      double sum_dx = 0, mag = 0, err = 0;
      for (std::size_t v = 0; v < V; ++v) {
        sum_dx += g[v] * w[v * d + j];
        mag += std::abs(g[v] * w[v * d + j]);
        err += eg[v] * std::abs(w[v * d + j]);
      }
      o.dx.value[at(r, d, j)] = sum_dx;
      o.dx.tol[at(r, d, j)] = err + tol_of(vocab + 3, mag);
    }
    for (std::size_t v = 0; v < V; ++v) {
      for (int j = 0; j < d; ++j) {
        const double xv = x[at(r, d, j)];
        o.dw.value[v * d + j] += g[v] * xv;
        dw_mag[v * d + j] += std::abs(g[v] * xv);
        dw_err[v * d + j] += eg[v] * std::abs(xv);
      }
    }
  }
  if (backward) {
    for (std::size_t i = 0; i < dw0.size(); ++i)
      o.dw.tol[i] = dw_err[i] + tol_of(rows + 3, dw_mag[i]);
  }
  return o;
}

// sum_r row_scale[r] * loss_r: what lm_head_loss's dx and dw are the gradient of.
inline double lm_head_weighted_loss(const Vec& x, const Vec& w, const Ints& targets,
                                    const Vec& row_scale, int rows, int d, int vocab) {
  double total = 0;
  std::vector<double> z(n_of(vocab));
  for (int r = 0; r < rows; ++r) {
    const int t = targets[n_of(r)];
    if (t < 0) continue;
    double m = -INFINITY;
    for (int v = 0; v < vocab; ++v) {
      double sum = 0;
      for (int j = 0; j < d; ++j) sum += x[at(r, d, j)] * w[at(v, d, j)];
      z[n_of(v)] = sum;
      m = std::max(m, sum);
    }
    double sum = 0;
    for (int v = 0; v < vocab; ++v) sum += std::exp(z[n_of(v)] - m);
    total += row_scale[n_of(r)] * (m + std::log(sum) - z[n_of(t)]);
  }
  return total;
}

// ---- AdamW --------------------------------------------------------------------

// torch.optim.AdamW with the backend's float hyperparameters taken exactly:
// p' = p (1 - lr wd mask) - lr/bc1 * m' / (sqrt(v')/sqrt(bc2) + eps),
// m' = b1 m + (1 - b1) g (K = 3 of |b1 m| + |(1 - b1) g|; 1 - b1 is exact by
// Sterbenz), v' = b2 v + (1 - b2) g^2 (K = 4, no cancellation: v >= 0).
// p': m' carries its 3u of its magnitude into the update; bc1, sqrt(bc2),
// lr/bc1, sqrt v' (half of v' 4u), /, +eps, /, *, - and the decay's three:
// K = 16 of |p (1 - lr wd mask)| + lr/bc1 mag(m') / denom.
inline void adamw(const Vec& p, const Vec& g, const Vec& m, const Vec& v, const Vec* mask,
                  const AdamWHyper& h, Out* p_out, Out* m_out, Out* v_out) {
  const std::size_t n = p.size();
  *p_out = {Vec(n), Vec(n)};
  *m_out = {Vec(n), Vec(n)};
  *v_out = {Vec(n), Vec(n)};
  const double lr = h.lr, b1 = h.beta1, b2 = h.beta2, eps = h.eps, wd = h.weight_decay;
  const double t = static_cast<double>(h.step);
  const double bc1 = 1.0 - std::pow(b1, t), bc2 = 1.0 - std::pow(b2, t);
  for (std::size_t i = 0; i < n; ++i) {
    const double decayed = p[i] * (1.0 - lr * wd * (mask != nullptr ? (*mask)[i] : 1.0));
    const double mi = b1 * m[i] + (1.0 - b1) * g[i];
    const double m_mag = std::abs(b1 * m[i]) + std::abs((1.0 - b1) * g[i]);
    const double vi = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
    const double denom = std::sqrt(vi) / std::sqrt(bc2) + eps;
    m_out->value[i] = mi;
    m_out->tol[i] = tol_of(3, m_mag);
    v_out->value[i] = vi;
    v_out->tol[i] = tol_of(4, vi);
    p_out->value[i] = decayed - lr / bc1 * mi / denom;
    p_out->tol[i] = tol_of(16, std::abs(decayed) + lr / bc1 * m_mag / denom);
  }
}

// ---- interventions ------------------------------------------------------------

// x[r] += alpha vec for each listed row, in list order (a row listed twice
// gets both): alpha * vec and the add, K = 2 per application of |x| + |alpha
// vec| (summed over applications); other rows untouched.
inline Out add_vector_rows(const Vec& x, int dim, const Ints& rows, const Vec& vec, double alpha) {
  Out o = untouched(x);
  for (std::int32_t r : rows) {
    for (int i = 0; i < dim; ++i) {
      const std::size_t idx = at(r, dim, i);
      o.tol[idx] += tol_of(2, std::abs(o.value[idx]) + std::abs(alpha * vec[i]));
      o.value[idx] += alpha * vec[i];
    }
  }
  return o;
}
// x[r] -= (x[r] . u) u for each listed row, in list order, with the given
// (float, so not exactly unit) u: the dot is gamma_dim of sum |x u| (float64
// on the CPU; float32 allowed), then c * u_e and the subtraction: K = dim + 2
// of |x_e| + sum |x u| |u_e| per application.
inline Out project_out_rows(const Vec& x, int dim, const Ints& rows, const Vec& unit) {
  Out o = untouched(x);
  for (std::int32_t r : rows) {
    double c = 0, c_mag = 0;
    for (int i = 0; i < dim; ++i) {
      c += o.value[at(r, dim, i)] * unit[i];
      c_mag += std::abs(o.value[at(r, dim, i)] * unit[i]);
    }
    for (int i = 0; i < dim; ++i) {
      const std::size_t idx = at(r, dim, i);
      o.tol[idx] += tol_of(dim + 2, std::abs(o.value[idx]) + c_mag * std::abs(unit[i]));
      o.value[idx] -= c * unit[i];
    }
  }
  return o;
}
// Gather is a copy: exact.
inline Out gather_rows(const Vec& x, int dim, const Ints& rows) {
  Out o{Vec(rows.size() * static_cast<std::size_t>(dim)),
        zeros(rows.size() * static_cast<std::size_t>(dim))};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (int e = 0; e < dim; ++e) o.value[i * dim + e] = x[at(rows[i], dim, e)];
  }
  return o;
}

}  // namespace masque::optest::ref
