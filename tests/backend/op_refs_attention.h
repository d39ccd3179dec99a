// Float64 reference of causal grouped-query attention: the ragged forward
// (AttentionSeq lists) and training's backward on a uniform batch with fused
// q|k|v rows, each with the error bound of its float32 evaluation (see
// op_refs.h for the form of the tolerances and docs/backend.md for the
// table).
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "op_refs.h"

namespace masque::optest::ref {

// One sequence: queries rows [q_row, q_row + n_q) at positions q_pos + i;
// keys/values rows [0, n_k) of *k / *v starting at element k0 / v0.
struct AttnSeq {
  int q_row = 0, n_q = 0, q_pos = 0, n_k = 0;
  const Vec* k = nullptr;
  std::size_t k0 = 0;
  const Vec* v = nullptr;
  std::size_t v0 = 0;
};

// Scores of one query against its visible keys: s_j = scale q.k_j, and
// A = max_j scale sum_e |q_e k_je| (the size of a score's rounding error in units of u).
struct ScoreRow {
  std::vector<double> s;
  double a = 0;
};
inline ScoreRow scores(const Vec& q, std::size_t q0, const AttnSeq& sq, int kvh, int visible,
                       const AttentionHeads& h) {
  ScoreRow row;
  row.s.resize(static_cast<std::size_t>(visible));
  const double scale = 1.0 / std::sqrt(static_cast<double>(h.head_dim));
  for (int j = 0; j < visible; ++j) {
    const std::size_t k0 = sq.k0 + at(j, h.ldk, kvh * h.head_dim);
    double dot = 0, mag = 0;
    for (int e = 0; e < h.head_dim; ++e) {
      dot += q[q0 + e] * (*sq.k)[k0 + e];
      mag += std::abs(q[q0 + e] * (*sq.k)[k0 + e]);
    }
    row.s[j] = scale * dot;
    row.a = std::max(row.a, scale * mag);
  }
  return row;
}

// out rows of each sequence (stride ldo; other rows and columns untouched)
// and lse ([n_heads, n_q] at lse + q_row * n_heads). Query i sees keys
// j <= min(n_k - 1, q_pos + i).
// Bound: a score errs by (hd + 2) u A (a dot of hd terms, the scale); x - m
// by u |x - m| <= 2 u A; exp 4u; the max's own error cancels in the ratio;
// the normalizing sum of n positive terms n u, the division u. So each p_j
// errs relatively by eps_p <= u (2 (hd + 4) A + n + 9), and out = sum p v by
// eps_p plus the sum's n u, both of sum p |v|: K = 2 (hd + 4) A + 2n + 10,
// mag = sum_j p_j |v_j|. lse errs absolutely by the sum's relative error
// plus u |lse|: K as out, mag = 1 + |lse|.
inline void attention_forward(const Vec& q, const std::vector<AttnSeq>& seqs,
                              const AttentionHeads& h, const Vec& out0, const Vec& lse0, Out* out,
                              Out* lse) {
  *out = untouched(out0);
  *lse = untouched(lse0);
  const int group = h.n_heads / h.n_kv_heads;
  for (const AttnSeq& sq : seqs) {
    for (int head = 0; head < h.n_heads; ++head) {
      for (int i = 0; i < sq.n_q; ++i) {
        const int visible = std::min(sq.n_k, sq.q_pos + i + 1);
        const std::size_t q0 = at(sq.q_row + i, h.ldq, head * h.head_dim);
        ScoreRow row = scores(q, q0, sq, head / group, visible, h);
        const double m = *std::max_element(row.s.begin(), row.s.end());
        double sum = 0;
        for (double& s : row.s) sum += (s = std::exp(s - m));
        for (double& s : row.s) s /= sum;
        const double k_bound = 2.0 * (h.head_dim + 4) * row.a + 2.0 * visible + 10;
        for (int e = 0; e < h.head_dim; ++e) {
          double o = 0, mag = 0;
          for (int j = 0; j < visible; ++j) {
            const double vv = (*sq.v)[sq.v0 + at(j, h.ldv, (head / group) * h.head_dim + e)];
            o += row.s[j] * vv;
            mag += row.s[j] * std::abs(vv);
          }
          const std::size_t idx = at(sq.q_row + i, h.ldo, head * h.head_dim + e);
          out->value[idx] = o;
          out->tol[idx] = tol_of(k_bound, mag);
        }
        const std::size_t li = static_cast<std::size_t>(sq.q_row) * h.n_heads +
                               static_cast<std::size_t>(head) * sq.n_q + i;
        lse->value[li] = m + std::log(sum);
        lse->tol[li] = tol_of(k_bound, 1.0 + std::abs(lse->value[li]));
      }
    }
  }
}

// The uniform batch of training as sequences: B sequences of T rows, k and v
// inside the fused rows of qkv (stride h.ldq).
inline std::vector<AttnSeq> batch_seqs(const Vec& qkv, int B, int T, const AttentionHeads& h) {
  std::vector<AttnSeq> seqs;
  const std::size_t q_dim = static_cast<std::size_t>(h.n_heads) * h.head_dim;
  const std::size_t kv_dim = static_cast<std::size_t>(h.n_kv_heads) * h.head_dim;
  for (int b = 0; b < B; ++b) {
    const std::size_t row0 = at(b * T, h.ldq, 0);
    seqs.push_back({b * T, T, 0, T, &qkv, row0 + q_dim, &qkv, row0 + q_dim + kv_dim});
  }
  return seqs;
}

// Gradients into the fused rows dqkv (dq at column 0, dk at n_heads*hd, dv at
// (n_heads + n_kv_heads)*hd, all of stride h.ldq = h.ldk = h.ldv), from dout
// and the given out and lse (stride ldo; lse [B, n_heads, T]).
// With p = exp(s - lse): eps_p <= u ((hd + 2) A + S + 4), S = max |s - lse|.
// dp = dout.v and delta = dout.out are dots of hd terms, so ds = p (dp -
// delta) errs by u (eps_p/u + hd + 3) p G, G = sum |dout v| + sum |dout out|
// (dp - delta cancels: G, not |dp - delta|). Then
//   dq = scale sum_j ds k_j:  mag = scale sum_j p G |k_j|, K = kappa + T + 1
//   dk = scale sum_{h,i} ds q_i: mag = scale sum p G |q_i|, K = kappa + T group + 1
//   dv = sum_{h,i} p dout_i:  mag = sum p |dout_i|,     K = eps_p/u + T group + 1
// with kappa = eps_p/u + hd + 3; A and S are maxima over the whole batch.
inline Out attention_backward(const Vec& qkv, const Vec& dqkv0, const Vec& dout, const Vec& out,
                              const Vec& lse, int B, int T, const AttentionHeads& h) {
  const int group = h.n_heads / h.n_kv_heads;
  const int hd = h.head_dim;
  const int q_dim = h.n_heads * hd, kv_dim = h.n_kv_heads * hd;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const std::vector<AttnSeq> seqs = batch_seqs(qkv, B, T, h);
  // Pass 1: the bound's A and S.
  double a_max = 0, s_max = 0;
  for (int b = 0; b < B; ++b) {
    for (int head = 0; head < h.n_heads; ++head) {
      for (int i = 0; i < T; ++i) {
        const ScoreRow row =
            scores(qkv, at(b * T + i, h.ldq, head * hd), seqs[b], head / group, i + 1, h);
        const double l = lse[(static_cast<std::size_t>(b) * h.n_heads + head) * T + i];
        a_max = std::max(a_max, row.a);
        for (double s : row.s) s_max = std::max(s_max, std::abs(s - l));
      }
    }
  }
  const double eps_p = (hd + 2) * a_max + s_max + 4, kappa = eps_p + hd + 3;
  Out g = untouched(dqkv0);
  Vec mag(dqkv0.size(), 0.0);
  for (int b = 0; b < B; ++b) {
    for (int row = 0; row < T; ++row) {
      for (int c = 0; c < q_dim + 2 * kv_dim; ++c) g.value[at(b * T + row, h.ldq, c)] = 0;
    }
    for (int head = 0; head < h.n_heads; ++head) {
      const int kvh = head / group;
      for (int i = 0; i < T; ++i) {
        const std::size_t qi = at(b * T + i, h.ldq, head * hd),
                          oi = at(b * T + i, h.ldo, head * hd);
        ScoreRow row = scores(qkv, qi, seqs[b], kvh, i + 1, h);
        const double l = lse[(static_cast<std::size_t>(b) * h.n_heads + head) * T + i];
        double delta = 0, e_mag = 0;
        for (int e = 0; e < hd; ++e) {
          delta += dout[oi + e] * out[oi + e];
          e_mag += std::abs(dout[oi + e] * out[oi + e]);
        }
        for (int j = 0; j <= i; ++j) {
          const std::size_t kj = at(b * T + j, h.ldq, q_dim + kvh * hd), vj = kj + kv_dim;
          const double p = std::exp(row.s[j] - l);
          double dp = 0, d_mag = 0;
          for (int e = 0; e < hd; ++e) {
            dp += dout[oi + e] * qkv[vj + e];
            d_mag += std::abs(dout[oi + e] * qkv[vj + e]);
          }
          const double ds = p * (dp - delta) * scale, ds_mag = p * (d_mag + e_mag) * scale;
          for (int e = 0; e < hd; ++e) {
            g.value[qi + e] += ds * qkv[kj + e];
            mag[qi + e] += ds_mag * std::abs(qkv[kj + e]);
            g.value[kj + e] += ds * qkv[qi + e];
            mag[kj + e] += ds_mag * std::abs(qkv[qi + e]);
            g.value[vj + e] += p * dout[oi + e];
            mag[vj + e] += p * std::abs(dout[oi + e]);
          }
        }
      }
    }
  }
  for (int r = 0; r < B * T; ++r) {
    for (int c = 0; c < q_dim + 2 * kv_dim; ++c) {
      const double k_bound = c < q_dim            ? kappa + T + 1
                             : c < q_dim + kv_dim ? kappa + T * group + 1
                                                  : eps_p + T * group + 1;
      g.tol[at(r, h.ldq, c)] = tol_of(k_bound, mag[at(r, h.ldq, c)]);
    }
  }
  return g;
}

}  // namespace masque::optest::ref
