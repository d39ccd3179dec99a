// The training step: forward through the blocks keeping every layer's
// activations, the LM head fused with the cross-entropy, and the
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
  std::size_t valid = 0;
  for (int i = 0; i < rows; ++i) valid += targets[i] >= 0 ? 1 : 0;
  if (call.token_losses) std::fill_n(call.token_losses, rows, 0.0f);
  if (valid == 0) return 0.0f;
  // Each row's gradient weight: the mean over valid targets, or DPO's
  // per-position weights (constant over a sequence).
  const float scale = grad_scale / static_cast<float>(valid);
  for (int i = 0; i < rows; ++i)
    head_scales[i] = call.loss_weights ? grad_scale * call.loss_weights[i] : scale;
  be.lm_head_loss(head_losses.data(), backward ? train_scratch.dnorm : nullptr,
                  backward ? d_lm_head : nullptr, train_scratch.norm, lm_head, targets,
                  head_scales.data(), rows, d, cfg.vocab_size, *train_workspace);
  double total = 0.0;
  for (int i = 0; i < rows; ++i) total += head_losses[i];
  if (call.token_losses) std::copy_n(head_losses.data(), rows, call.token_losses);
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
