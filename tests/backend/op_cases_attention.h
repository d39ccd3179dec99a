// Attention case builders: the ragged forward over AttentionSeq lists
// (training's batch, prefill after a cached prefix, batched decoding) and
// training's backward on a uniform batch with fused q|k|v rows. See
// op_cases.h for what a case holds.
#pragma once
#include <string>
#include <vector>

#include "op_cases.h"
#include "op_refs_attention.h"

namespace masque::optest {

// One sequence of a ragged call: n_q query rows at positions q_pos.., over
// n_k cached keys (n_k >= q_pos + n_q; keys past a query's position must be
// masked out even when present).
struct SeqSpec {
  int n_q = 0, q_pos = 0, n_k = 0;
};

inline double attention_flops(const std::vector<SeqSpec>& seqs, int n_heads, int head_dim) {
  double pairs = 0;  // (query, visible key) pairs; q.k and p.v are 2 flops each per element
  for (const auto& s : seqs) {
    for (int i = 0; i < s.n_q; ++i) pairs += std::min(s.n_k, s.q_pos + i + 1);
  }
  return 4.0 * pairs * n_heads * head_dim;
}

// fused: training's layout, keys and values inside the query rows (q|k|v,
// stride (H + 2 Hkv) hd, each sequence's keys are its own rows: q_pos 0,
// n_k = n_q). Otherwise each sequence has its own KV cache [n_k, Hkv hd + pad]
// and `gap` unused rows separate the sequences' query rows (they and the
// padding columns must stay untouched). with_lse false passes lse = null.
inline OpCase attention_forward_case(const std::vector<SeqSpec>& specs, int n_heads, int n_kv_heads,
                                     int head_dim, bool fused, int pad, int gap, bool with_lse,
                                     Rng& rng) {
  std::string shape = sizes({{"heads", n_heads},
                             {"kv_heads", n_kv_heads},
                             {"head_dim", head_dim},
                             {"fused", fused}}) +
                      " seqs";
  // n_q@q_pos/n_k per sequence, runs of equal ones as count x (training's batch: "16x256@0/256").
  for (std::size_t i = 0; i < specs.size();) {
    std::size_t j = i;
    while (j < specs.size() && specs[j].n_q == specs[i].n_q && specs[j].q_pos == specs[i].q_pos &&
           specs[j].n_k == specs[i].n_k) {
      ++j;
    }
    shape += " " + (j - i > 1 ? std::to_string(j - i) + "x" : std::string()) +
             std::to_string(specs[i].n_q) + "@" + std::to_string(specs[i].q_pos) + "/" +
             std::to_string(specs[i].n_k);
    i = j;
  }
  OpCase c = make_case("attention_forward", shape, attention_flops(specs, n_heads, head_dim));
  const int q_dim = n_heads * head_dim, kv_dim = n_kv_heads * head_dim;
  AttentionHeads heads{n_heads, n_kv_heads, head_dim,   fused ? q_dim + 2 * kv_dim : q_dim + pad,
                       0,       0,          q_dim + pad};
  heads.ldk = heads.ldv = fused ? heads.ldq : kv_dim + pad;
  std::vector<int> q_rows;
  int total = 0;
  for (const auto& s : specs) {
    q_rows.push_back(total);
    total += s.n_q + (fused ? 0 : gap);
  }
  const int q = c.in("q", random_floats(sz(total, heads.ldq), rng));
  std::vector<int> ks, vs;
  if (!fused) {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      ks.push_back(c.in("k" + std::to_string(i), random_floats(sz(specs[i].n_k, heads.ldk), rng)));
      vs.push_back(c.in("v" + std::to_string(i), random_floats(sz(specs[i].n_k, heads.ldv), rng)));
    }
  }
  const int out = c.out("out", nans(sz(total, heads.ldo)));
  const int lse = with_lse ? c.out("lse", nans(sz(total, n_heads))) : -1;
  c.run = [=](const Backend& be, DeviceArrays& d) {
    std::vector<AttentionSeq> seqs;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const float* k = fused ? d.f32(q) + sz(q_rows[i], heads.ldq) + q_dim : d.f32(ks[i]);
      const float* v = fused ? k + kv_dim : d.f32(vs[i]);
      seqs.push_back({q_rows[i], specs[i].n_q, specs[i].q_pos, specs[i].n_k, k, v});
    }
    be.attention_forward(d.f32(out), lse < 0 ? nullptr : d.f32(lse), d.f32(q), seqs, heads,
                         d.workspace());
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    const ref::Vec qd = c.d(q);
    std::vector<ref::Vec> kd, vd;
    for (std::size_t i = 0; i < ks.size(); ++i) {
      kd.push_back(c.d(ks[i]));
      vd.push_back(c.d(vs[i]));
    }
    std::vector<ref::AttnSeq> seqs;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const std::size_t row0 = sz(q_rows[i], heads.ldq);
      seqs.push_back(fused ? ref::AttnSeq{q_rows[i], specs[i].n_q, specs[i].q_pos, specs[i].n_k,
                                          &qd, row0 + q_dim, &qd, row0 + q_dim + kv_dim}
                           : ref::AttnSeq{q_rows[i], specs[i].n_q, specs[i].q_pos, specs[i].n_k,
                                          &kd[i], 0, &vd[i], 0});
    }
    ref::Out o, l;
    ref::attention_forward(qd, seqs, heads, c.d(out),
                           lse < 0 ? ref::Vec(sz(total, n_heads)) : c.d(lse), &o, &l);
    r.expect(out, std::move(o.value), std::move(o.tol));
    if (lse >= 0) r.expect(lse, std::move(l.value), std::move(l.tol));
  };
  return c;
}

// Training's backward: B sequences of T fused q|k|v rows; out and lse as the
// forward saves them (float of the exact values; out rows padded to ldo =
// q_dim + pad_o). dq|dk|dv start NaN (overwritten). The finite-difference
// check differentiates sum(dout * forward) with respect to all of q|k|v.
inline OpCase attention_backward_case(int B, int T, int n_heads, int n_kv_heads, int head_dim,
                                      int pad_o, Rng& rng) {
  const std::vector<SeqSpec> specs(sz(B), SeqSpec{T, 0, T});
  OpCase c = make_case("attention_backward",
                       sizes({{"B", B},
                              {"T", T},
                              {"heads", n_heads},
                              {"kv_heads", n_kv_heads},
                              {"head_dim", head_dim}}),
                       2.5 * attention_flops(specs, n_heads, head_dim));
  const int q_dim = n_heads * head_dim, kv_dim = n_kv_heads * head_dim, ld = q_dim + 2 * kv_dim;
  const AttentionHeads heads{n_heads, n_kv_heads, head_dim, ld, ld, ld, q_dim + pad_o};
  std::vector<float> qkv_f = random_floats(sz(B * T, ld), rng);
  const ref::Vec qkv_d(qkv_f.begin(), qkv_f.end());
  ref::Out out_ref, lse_ref;
  ref::attention_forward(qkv_d, ref::batch_seqs(qkv_d, B, T, heads), heads,
                         zeros(sz(B * T, heads.ldo)), zeros(sz(B * T, n_heads)), &out_ref,
                         &lse_ref);
  const int qkv = c.in("qkv", std::move(qkv_f));
  const int dy = c.in("dout", random_floats(sz(B * T, heads.ldo), rng));
  const int out = c.in("out", std::vector<float>(out_ref.value.begin(), out_ref.value.end()));
  const int lse = c.in("lse", std::vector<float>(lse_ref.value.begin(), lse_ref.value.end()));
  const int dqkv = c.out("dqkv", nans(sz(B * T, ld)));
  c.run = [=](const Backend& be, DeviceArrays& d) {
    const float* x = d.f32(qkv);
    float* g = d.f32(dqkv);
    be.attention_backward(g, g + q_dim, g + q_dim + kv_dim, d.f32(dy), d.f32(out), d.f32(lse), x,
                          x + q_dim, x + q_dim + kv_dim, AttentionBatch{B, T}, heads,
                          d.workspace());
  };
  c.reference = [=](const OpCase& c, Reference& r) {
    ref::Vec xd = c.d(qkv);
    const ref::Vec dyd = c.d(dy);
    ref::Out o = ref::attention_backward(xd, c.d(dqkv), dyd, c.d(out), c.d(lse), B, T, heads);
    r.expect(dqkv, std::move(o.value), std::move(o.tol));
    auto forward = [&](ref::Out* fo, ref::Out* fl) {
      ref::attention_forward(xd, ref::batch_seqs(xd, B, T, heads), heads, zeros(dyd.size()),
                             zeros(sz(B * T, n_heads)), fo, fl);
    };
    ref::Out fo, fl;
    forward(&fo, &fl);
    const ref::Vec analytic =
        ref::attention_backward(xd, zeros(xd.size()), dyd, fo.value, fl.value, B, T, heads).value;
    auto loss = [&] {
      ref::Out lo, ll;
      forward(&lo, &ll);
      return dot(lo.value, dyd);
    };
    r.gradients.push_back(finite_difference("attention dq|dk|dv", xd, analytic, loss, 1e-6, 120));
  };
  return c;
}

}  // namespace masque::optest
