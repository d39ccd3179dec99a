// The training step's math, top to bottom: forward through the blocks, the
// chunked LM head with fused cross-entropy, and the backward in reverse order.
// Every buffer comes from the arena planned in Model::Impl::reserve.
#include <cstring>

#include "backend/cpu/attention.h"
#include "backend/cpu/cross_entropy.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/swiglu.h"
#include "core/threads.h"
#include "model/model_impl.h"

namespace masque {

namespace {
cpu::AttentionDims training_dims(const ModelConfig& cfg, int B, int T, int qkv_dim, int q_dim) {
  cpu::AttentionDims dims;
  dims.B = B;
  dims.Tq = T;
  dims.Tk = T;
  dims.q_offset = 0;
  dims.n_heads = cfg.num_attention_heads;
  dims.n_kv_heads = cfg.num_key_value_heads;
  dims.head_dim = cfg.head_dim;
  dims.ldq = dims.ldk = dims.ldv = qkv_dim;
  dims.ldo = q_dim;
  return dims;
}
}  // namespace

void Model::Impl::forward_blocks(const std::int32_t* tokens, int B, int T) {
  const int N = B * T;
  const int L = cfg.num_hidden_layers;
  const int H = cfg.num_attention_heads;
  const int Hkv = cfg.num_key_value_heads;
  const int hd = cfg.head_dim;
  const float eps = cfg.rms_norm_eps;
  const cpu::AttentionDims dims = training_dims(cfg, B, T, qkv_dim, q_dim);
  cpu::embedding_forward(acts[0].resid, tokens, embed, N, d);
  for (int l = 0; l < L; ++l) {
    LayerActs& a = acts[l];
    const LayerWeights& lw = w[l];
    float* out = l + 1 < L ? acts[l + 1].resid : resid_final;
    // Attention block: mid = resid + o_proj(attn(rope(q), rope(k), v)).
    cpu::rmsnorm_forward(norm, a.rstd1, a.resid, lw.ln1, N, d, eps);
    cpu::matmul_forward(a.qkv, norm, lw.wqkv, N, d, qkv_dim);
    cpu::rope_forward(a.qkv, B, T, H, hd, qkv_dim, 0, rope);
    cpu::rope_forward(a.qkv + q_dim, B, T, Hkv, hd, qkv_dim, 0, rope);
    cpu::attention_forward(a.att, a.lse, a.qkv, a.qkv + q_dim, a.qkv + q_dim + kv_dim, dims,
                           attn_scratch.data(), num_threads());
    std::memcpy(a.mid, a.resid, sizeof(float) * static_cast<std::size_t>(N) * d);
    cpu::matmul_forward_add(a.mid, a.att, lw.wo, N, q_dim, d);
    // MLP block: out = mid + down(silu(gate(x)) * up(x)), x = rms(mid).
    cpu::rmsnorm_forward(norm, a.rstd2, a.mid, lw.ln2, N, d, eps);
    cpu::matmul_forward(a.gu, norm, lw.wgu, N, d, 2 * ff);
    cpu::swiglu_forward(hbuf, a.gu, N, ff);
    std::memcpy(out, a.mid, sizeof(float) * static_cast<std::size_t>(N) * d);
    cpu::matmul_forward_add(out, hbuf, lw.wdown, N, ff, d);
    if (hook) hook(l, out, N, d);
  }
  cpu::rmsnorm_forward(norm, rstd_f, resid_final, norm_f, N, d, eps);
}

float Model::Impl::head_loss(const std::int32_t* targets, int rows, bool backward, float grad_scale) {
  const int V = cfg.vocab_size;
  std::size_t valid = 0;
  for (int i = 0; i < rows; ++i) valid += targets[i] >= 0 ? 1 : 0;
  if (valid == 0) return 0.0f;
  const float scale = grad_scale / static_cast<float>(valid);
  double total = 0.0;
  for (int r0 = 0; r0 < rows; r0 += ce_chunk) {
    const int count = std::min(ce_chunk, rows - r0);
    bool any = false;
    for (int i = r0; i < r0 + count && !any; ++i) any = targets[i] >= 0;
    float* chunk_norm = norm + static_cast<std::size_t>(r0) * d;
    float* chunk_dnorm = dnorm + static_cast<std::size_t>(r0) * d;
    if (!any) {
      // Fully masked chunk (e.g. a prompt in SFT): no loss, no gradient.
      if (backward) std::memset(chunk_dnorm, 0, sizeof(float) * static_cast<std::size_t>(count) * d);
      continue;
    }
    cpu::matmul_forward(logits, chunk_norm, lm_head, count, d, V);
    cpu::softmax_cross_entropy_forward(losses + r0, lse_ce + r0, logits, targets + r0, count, V);
    for (int i = r0; i < r0 + count; ++i) total += losses[i];
    if (backward) {
      cpu::softmax_cross_entropy_backward(logits, logits, lse_ce + r0, targets + r0, count, V, scale);
      cpu::matmul_backward(chunk_dnorm, d_lm_head, logits, chunk_norm, lm_head, count, d, V);
    }
  }
  return static_cast<float>(total / static_cast<double>(valid));
}

void Model::Impl::backward_blocks(const std::int32_t* tokens, int B, int T) {
  const int N = B * T;
  const int L = cfg.num_hidden_layers;
  const int H = cfg.num_attention_heads;
  const int Hkv = cfg.num_key_value_heads;
  const int hd = cfg.head_dim;
  const cpu::AttentionDims dims = training_dims(cfg, B, T, qkv_dim, q_dim);
  std::memset(dres, 0, sizeof(float) * static_cast<std::size_t>(N) * d);
  cpu::rmsnorm_backward(dres, d_norm_f, dnorm, resid_final, norm_f, rstd_f, N, d);
  for (int l = L - 1; l >= 0; --l) {
    LayerActs& a = acts[l];
    const LayerWeights& lw = w[l];
    const LayerWeights& lg = g[l];
    // MLP block. dres holds d(out); the residual passes it to mid unchanged.
    cpu::swiglu_forward(hbuf, a.gu, N, ff);  // recompute h (cheaper than storing it per layer)
    cpu::matmul_backward(nullptr, lg.wdown, dres, hbuf, lw.wdown, N, ff, d);
    cpu::matmul_backward(hbuf, nullptr, dres, nullptr, lw.wdown, N, ff, d);  // hbuf := dh
    cpu::swiglu_backward(a.gu, hbuf, a.gu, N, ff);                           // gu := d(gate|up)
    cpu::rmsnorm_apply(norm, a.rstd2, a.mid, lw.ln2, N, d);
    cpu::matmul_backward(dnorm, lg.wgu, a.gu, norm, lw.wgu, N, d, 2 * ff);
    cpu::rmsnorm_backward(dres, lg.ln2, dnorm, a.mid, lw.ln2, a.rstd2, N, d);
    // Attention block. dres now holds d(mid).
    cpu::matmul_backward(datt, lg.wo, dres, a.att, lw.wo, N, q_dim, d);
    cpu::attention_backward(dqkv, dqkv + q_dim, dqkv + q_dim + kv_dim, datt, a.att, a.lse, a.qkv,
                            a.qkv + q_dim, a.qkv + q_dim + kv_dim, dims, attn_scratch.data(), num_threads());
    cpu::rope_backward(dqkv, B, T, H, hd, qkv_dim, 0, rope);
    cpu::rope_backward(dqkv + q_dim, B, T, Hkv, hd, qkv_dim, 0, rope);
    cpu::rmsnorm_apply(norm, a.rstd1, a.resid, lw.ln1, N, d);
    cpu::matmul_backward(dnorm, lg.wqkv, dqkv, norm, lw.wqkv, N, d, qkv_dim);
    cpu::rmsnorm_backward(dres, lg.ln1, dnorm, a.resid, lw.ln1, a.rstd1, N, d);
  }
  cpu::embedding_backward(d_embed, dres, tokens, N, d);
}

}  // namespace masque
