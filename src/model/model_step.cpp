// The training step: forward through the blocks keeping every layer's
// activations, the chunked LM head with fused cross-entropy, and the
// backward in reverse order. Every buffer comes from the arena planned in
// Model::Impl::reserve; the block itself is decoder_block.cpp.
#include <algorithm>

#include "core/error.h"
#include "model/model_impl.h"

namespace masque {
void Model::Impl::forward_blocks(const std::int32_t* tokens, int B, int T,
                                 const InterventionPass& iv) {
  const int N = B * T;
  const int L = cfg.num_hidden_layers;
  std::vector<std::int32_t> positions(static_cast<std::size_t>(N));
  for (int i = 0; i < N; ++i) positions[i] = i % T;
  be.upload(dev_positions, positions.data(), positions.size() * sizeof(std::int32_t));
  forward_tokens = device_ints(be, tokens, static_cast<std::size_t>(N), dev_tokens);
  be.embedding_forward(acts[0].resid, forward_tokens, embed, N, d);
  if (iv.at(InterventionSite::kEmbed, -1)) iv.forward(InterventionSite::kEmbed, -1, acts[0].resid);
  const BlockContext ctx{be,
                         layout.dims,
                         N,
                         dev_positions,
                         rope_cos.f32(),
                         rope_sin.f32(),
                         iv,
                         *train_workspace,
                         train_ones.f32()};
  SelfAttentionKv kv(B, T, layout.dims);
  for (int l = 0; l < L; ++l) {
    float* out = l + 1 < L ? acts[l + 1].resid : resid_final;
    block_forward(ctx, l, w[l], acts[l], train_scratch, kv, out);
  }
  be.rmsnorm_forward(train_scratch.norm, rstd_f, resid_final, norm_f, N, d, cfg.rms_norm_eps);
}

float Model::Impl::head_loss(const std::int32_t* targets, int rows, bool backward, float grad_scale,
                             const CallOptions& call) {
  const int V = cfg.vocab_size;
  std::size_t valid = 0;
  for (int i = 0; i < rows; ++i) valid += targets[i] >= 0 ? 1 : 0;
  if (call.token_losses) std::fill_n(call.token_losses, rows, 0.0f);
  if (valid == 0) return 0.0f;
  const float scale = grad_scale / static_cast<float>(valid);
  const std::int32_t* dev_t = device_ints(be, targets, static_cast<std::size_t>(rows), dev_targets);
  std::vector<float> chunk_losses(static_cast<std::size_t>(ce_chunk));
  double total = 0.0;
  for (int r0 = 0; r0 < rows; r0 += ce_chunk) {
    const int count = std::min(ce_chunk, rows - r0);
    bool any = false;
    for (int i = r0; i < r0 + count && !any; ++i) any = targets[i] >= 0;
    float* chunk_norm = train_scratch.norm + static_cast<std::size_t>(r0) * d;
    float* chunk_dnorm = train_scratch.dnorm + static_cast<std::size_t>(r0) * d;
    if (!any) {
      // Fully masked chunk (e.g. a prompt in SFT): no loss, no gradient.
      if (backward) be.fill_zero(chunk_dnorm, sizeof(float) * static_cast<std::size_t>(count) * d);
      continue;
    }
    be.matmul_forward(logits, chunk_norm, lm_head, count, d, V, false);
    be.cross_entropy_forward(losses + r0, lse_ce + r0, logits, dev_t + r0, count, V);
    be.download(chunk_losses.data(), losses + r0, sizeof(float) * count);
    for (int i = 0; i < count; ++i) total += chunk_losses[i];
    if (call.token_losses) std::copy_n(chunk_losses.data(), count, call.token_losses + r0);
    if (backward && call.loss_weights) {
      // Per-position weights: one backward call per run of equal weight
      // (DPO's weights are constant over a sequence, so runs are long).
      const float* wt = call.loss_weights + r0;
      for (int a = 0; a < count;) {
        int b = a + 1;
        while (b < count && wt[b] == wt[a]) ++b;
        be.cross_entropy_backward(logits + static_cast<std::size_t>(a) * V,
                                  logits + static_cast<std::size_t>(a) * V, lse_ce + r0 + a,
                                  dev_t + r0 + a, b - a, V, grad_scale * wt[a]);
        a = b;
      }
      be.matmul_backward(chunk_dnorm, d_lm_head, logits, chunk_norm, lm_head, count, d, V);
    } else if (backward) {
      be.cross_entropy_backward(logits, logits, lse_ce + r0, dev_t + r0, count, V, scale);
      be.matmul_backward(chunk_dnorm, d_lm_head, logits, chunk_norm, lm_head, count, d, V);
    }
  }
  return static_cast<float>(total / static_cast<double>(valid));
}

void Model::Impl::backward_blocks(int B, int T, const InterventionPass& iv) {
  const int N = B * T;
  const int L = cfg.num_hidden_layers;
  const BlockContext ctx{be,
                         layout.dims,
                         N,
                         dev_positions,
                         rope_cos.f32(),
                         rope_sin.f32(),
                         iv,
                         *train_workspace,
                         train_ones.f32()};
  const AttentionBatch batch{B, T};
  be.fill_zero(dres, sizeof(float) * static_cast<std::size_t>(N) * d);
  be.rmsnorm_backward(dres, d_norm_f, train_scratch.dnorm, resid_final, norm_f, rstd_f, N, d);
  for (int l = L - 1; l >= 0; --l)
    block_backward(ctx, l, w[l], g[l], acts[l], train_scratch, batch, dres);
  iv.backward(InterventionSite::kEmbed, -1, dres);
  be.embedding_backward(d_embed, dres, forward_tokens, N, d);
}

float Model::forward_backward(const std::int32_t* tokens, const std::int32_t* targets, int B, int T,
                              float grad_scale, const CallOptions& call) {
  Impl& m = *impl_;
  m.reserve(B, T);
  m.check_tokens(tokens, targets, B, T);
  const CallRows rows = m.training_rows(B, T, call.response_mask);
  const InterventionPass iv(call.interventions, m.be, rows, m.d);
  m.forward_blocks(tokens, B, T, iv);
  const float loss = m.head_loss(targets, B * T, true, grad_scale, call);
  const bool any_target = std::any_of(targets, targets + static_cast<std::size_t>(B) * T,
                                      [](std::int32_t t) { return t >= 0; });
  if (any_target) m.backward_blocks(B, T, iv);
  return loss;
}

float Model::forward_loss(const std::int32_t* tokens, const std::int32_t* targets, int B, int T,
                          const CallOptions& call) {
  Impl& m = *impl_;
  m.reserve(B, T);
  m.check_tokens(tokens, targets, B, T);
  const CallRows rows = m.training_rows(B, T, call.response_mask);
  const InterventionPass iv(call.interventions, m.be, rows, m.d);
  m.forward_blocks(tokens, B, T, iv);
  return m.head_loss(targets, B * T, false, 0.0f, call);
}

}  // namespace masque
