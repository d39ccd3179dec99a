// The decoder block's forward and backward (see decoder_block.h).
#include "model/decoder_block.h"

#include "backend/cpu/q8_matmul.h"

namespace masque {

SelfAttentionKv::SelfAttentionKv(int B, int T, const BlockDims& dims)
    : B_(B),
      T_(T),
      q_dim_(dims.q_dim),
      kv_dim_(dims.kv_dim),
      qkv_dim_(dims.qkv_dim),
      seqs_(static_cast<std::size_t>(B)) {}

std::span<const AttentionSeq> SelfAttentionKv::bind(int, const float* qkv) {
  for (int b = 0; b < B_; ++b) {
    const float* row0 = qkv + static_cast<std::size_t>(b) * T_ * qkv_dim_;
    seqs_[b] = {b * T_, T_, 0, T_, row0 + q_dim_, row0 + q_dim_ + kv_dim_};
  }
  return seqs_;
}

void linear_forward(const Backend& be, float* out, const float* inp, const float* weight,
                    const Q8Matrix* quant, int rows, int in, int out_dim, bool accumulate) {
  if (quant != nullptr && be.host_addressable() && rows <= cpu::kQ8MaxRows) {
    cpu::q8_matmul(out, inp, *quant, rows, accumulate ? 1.0f : 0.0f);
    return;
  }
  be.matmul_forward(out, inp, weight, rows, in, out_dim, accumulate);
}

namespace {

AttentionHeads heads_of(const BlockDims& d, int key_stride) {
  return {d.n_heads, d.n_kv_heads, d.head_dim, d.qkv_dim, key_stride, key_stride, d.q_dim};
}

// x [rows, width] += bias on every row (a no-op without a bias): the rank-1
// product ones [rows, 1] @ bias [1, width].
void add_bias(const BlockContext& ctx, float* x, const float* bias, int width) {
  if (bias == nullptr) return;
  ctx.backend.matmul_forward(x, ctx.ones, bias, ctx.rows, 1, width, true);
}

// dbias [width] += column sums of dout [rows, width] (ones^T @ dout).
void bias_grad(const BlockContext& ctx, float* dbias, const float* dout, int width) {
  if (dbias == nullptr) return;
  ctx.backend.matmul_backward(nullptr, dbias, dout, ctx.ones, nullptr, ctx.rows, 1, width);
}

// dst = base + inp @ weight^T + bias, with the sublayer's output exposed to
// the interventions at `site` when any act there (else one fused GEMM).
void sublayer_into_residual(const BlockContext& ctx, InterventionSite site, int layer, float* dst,
                            const float* base, const float* inp, const float* weight,
                            const Q8Matrix* quant, const float* bias, int in, float* site_buf) {
  const Backend& be = ctx.backend;
  const std::size_t n = static_cast<std::size_t>(ctx.rows) * ctx.dims.d;
  if (ctx.interventions.at(site, layer)) {
    linear_forward(be, site_buf, inp, weight, quant, ctx.rows, in, ctx.dims.d, false);
    add_bias(ctx, site_buf, bias, ctx.dims.d);
    ctx.interventions.forward(site, layer, site_buf);
    if (dst != base) be.copy(dst, base, n * sizeof(float));
    be.add_inplace(dst, site_buf, n);
  } else {
    if (dst != base) be.copy(dst, base, n * sizeof(float));
    linear_forward(be, dst, inp, weight, quant, ctx.rows, in, ctx.dims.d, true);
    add_bias(ctx, dst, bias, ctx.dims.d);
  }
}

// The gradient reaching a sublayer's output from the residual: the same
// unless a projection acted there.
const float* sublayer_grad(const BlockContext& ctx, InterventionSite site, int layer,
                           const float* dres, float* site_buf) {
  if (!ctx.interventions.modifies_at(site, layer)) return dres;
  ctx.backend.copy(site_buf, dres, sizeof(float) * static_cast<std::size_t>(ctx.rows) * ctx.dims.d);
  ctx.interventions.backward(site, layer, site_buf);
  return site_buf;
}

}  // namespace

void block_forward(const BlockContext& ctx, int layer, const BlockWeights& w, const BlockActs& a,
                   const BlockScratch& s, KvBinding& kv, float* out) {
  const Backend& be = ctx.backend;
  const BlockDims& d = ctx.dims;
  const int N = ctx.rows;
  be.rmsnorm_forward(s.norm, a.rstd1, a.resid, w.ln1, N, d.d, d.eps);
  linear_forward(be, a.qkv, s.norm, w.wqkv, w.q8_wqkv, N, d.d, d.qkv_dim, false);
  add_bias(ctx, a.qkv, w.bqkv, d.qkv_dim);
  be.rope_forward(a.qkv, ctx.positions, N, d.n_heads, d.head_dim, d.qkv_dim, ctx.rope_cos,
                  ctx.rope_sin);
  be.rope_forward(a.qkv + d.q_dim, ctx.positions, N, d.n_kv_heads, d.head_dim, d.qkv_dim,
                  ctx.rope_cos, ctx.rope_sin);
  const std::span<const AttentionSeq> seqs = kv.bind(layer, a.qkv);
  be.attention_forward(a.att, a.lse, a.qkv, seqs, heads_of(d, kv.key_stride()), ctx.workspace);
  sublayer_into_residual(ctx, InterventionSite::kAttnOut, layer, a.mid, a.resid, a.att, w.wo,
                         w.q8_wo, w.bo, d.q_dim, s.site);
  be.rmsnorm_forward(s.norm, a.rstd2, a.mid, w.ln2, N, d.d, d.eps);
  linear_forward(be, a.gu, s.norm, w.wgu, w.q8_wgu, N, d.d, 2 * d.ff, false);
  add_bias(ctx, a.gu, w.bgu, 2 * d.ff);
  be.swiglu_forward(s.h, a.gu, N, d.ff);
  sublayer_into_residual(ctx, InterventionSite::kMlpOut, layer, out, a.mid, s.h, w.wdown,
                         w.q8_wdown, w.bdown, d.ff, s.site);
  if (ctx.interventions.at(InterventionSite::kResidPost, layer)) {
    ctx.interventions.forward(InterventionSite::kResidPost, layer, out);
  }
}

void block_backward(const BlockContext& ctx, int layer, const BlockWeights& w,
                    const BlockWeights& g, const BlockActs& a, const BlockScratch& s,
                    const AttentionBatch& batch, float* dres) {
  const Backend& be = ctx.backend;
  const BlockDims& d = ctx.dims;
  const int N = ctx.rows;
  ctx.interventions.backward(InterventionSite::kResidPost, layer, dres);
  // MLP. dres holds d(out); the residual passes it to mid unchanged.
  be.swiglu_forward(s.h, a.gu, N, d.ff);  // recompute h (cheaper than storing it per layer)
  const float* dmlp = sublayer_grad(ctx, InterventionSite::kMlpOut, layer, dres, s.site);
  be.matmul_backward(nullptr, g.wdown, dmlp, s.h, w.wdown, N, d.ff, d.d);
  bias_grad(ctx, g.bdown, dmlp, d.d);
  be.matmul_backward(s.h, nullptr, dmlp, nullptr, w.wdown, N, d.ff, d.d);  // h := dh
  be.swiglu_backward(a.gu, s.h, a.gu, N, d.ff);                            // gu := d(gate|up)
  bias_grad(ctx, g.bgu, a.gu, 2 * d.ff);
  be.rmsnorm_apply(s.norm, a.rstd2, a.mid, w.ln2, N, d.d);
  be.matmul_backward(s.dnorm, g.wgu, a.gu, s.norm, w.wgu, N, d.d, 2 * d.ff);
  be.rmsnorm_backward(dres, g.ln2, s.dnorm, a.mid, w.ln2, a.rstd2, N, d.d);
  // Attention. dres now holds d(mid).
  const float* dattn = sublayer_grad(ctx, InterventionSite::kAttnOut, layer, dres, s.site);
  be.matmul_backward(s.datt, g.wo, dattn, a.att, w.wo, N, d.q_dim, d.d);
  bias_grad(ctx, g.bo, dattn, d.d);
  const AttentionHeads heads = heads_of(d, d.qkv_dim);
  be.attention_backward(s.dqkv, s.dqkv + d.q_dim, s.dqkv + d.q_dim + d.kv_dim, s.datt, a.att, a.lse,
                        a.qkv, a.qkv + d.q_dim, a.qkv + d.q_dim + d.kv_dim, batch, heads,
                        ctx.workspace);
  be.rope_backward(s.dqkv, ctx.positions, N, d.n_heads, d.head_dim, d.qkv_dim, ctx.rope_cos,
                   ctx.rope_sin);
  be.rope_backward(s.dqkv + d.q_dim, ctx.positions, N, d.n_kv_heads, d.head_dim, d.qkv_dim,
                   ctx.rope_cos, ctx.rope_sin);
  bias_grad(ctx, g.bqkv, s.dqkv, d.qkv_dim);
  be.rmsnorm_apply(s.norm, a.rstd1, a.resid, w.ln1, N, d.d);
  be.matmul_backward(s.dnorm, g.wqkv, s.dqkv, s.norm, w.wqkv, N, d.d, d.qkv_dim);
  be.rmsnorm_backward(dres, g.ln1, s.dnorm, a.resid, w.ln1, a.rstd1, N, d.d);
}

}  // namespace masque
