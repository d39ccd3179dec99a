// The forward without a backward: scoring whole sequences
// (Model::forward_logits) and the inference engine's prefill and decoding.
// Activations live in a caller-owned InferenceScratch, so these paths are
// const and several can run at once on one model.
#include <algorithm>

#include "core/error.h"
#include "model/model_impl.h"

namespace masque {

DeviceBuffer make_ones(const Backend& be, std::size_t n) {
  DeviceBuffer ones = DeviceBuffer::floats(be, n);
  const std::vector<float> host(n, 1.0f);
  ones.upload(host.data(), n * sizeof(float));
  return ones;
}

void InferenceScratch::ensure(const ModelLayout& layout, int n) {
  if (n <= rows) return;
  const BlockDims& d = layout.dims;
  const std::size_t r = static_cast<std::size_t>(n);
  const Backend& be = workspace.backend();
  buffer = DeviceBuffer::floats(be, r * (5 * d.d + d.qkv_dim + d.q_dim + 3 * d.ff));
  positions = DeviceBuffer::ints(be, r);
  tokens = DeviceBuffer::ints(be, r);
  float* cursor = buffer.f32();
  auto take = [&](std::size_t count) {
    float* p = cursor;
    cursor += count;
    return p;
  };
  acts = BlockActs{};
  acts.resid = take(r * d.d);
  acts.mid = take(r * d.d);
  acts.qkv = take(r * d.qkv_dim);
  acts.att = take(r * d.q_dim);
  acts.gu = take(r * 2 * d.ff);
  scratch = BlockScratch{};
  scratch.norm = take(r * d.d);
  scratch.h = take(r * d.ff);
  scratch.site = take(r * d.d);
  scratch.dnorm = take(r * d.d);  // the picked rows' final norm in logits_of_rows
  if (layout.biases) ones = make_ones(be, r);
  rows = n;
}

void Model::Impl::forward_rows(InferenceScratch& s, const std::int32_t* tokens_host,
                               const std::int32_t* positions_host, int rows, KvBinding& kv,
                               const InterventionPass& iv) const {
  s.ensure(layout, rows);
  s.used = rows;
  const std::size_t n = static_cast<std::size_t>(rows);
  const std::int32_t* tokens = device_ints(be, tokens_host, n, s.tokens.i32());
  const std::int32_t* positions = device_ints(be, positions_host, n, s.positions.i32());
  be.embedding_forward(s.acts.resid, tokens, embed, rows, d);
  if (iv.at(InterventionSite::kEmbed, -1)) iv.forward(InterventionSite::kEmbed, -1, s.acts.resid);
  const BlockContext ctx{be, layout.dims, rows,        positions, rope_cos.f32(), rope_sin.f32(),
                         iv, s.workspace, s.ones.f32()};
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    block_forward(ctx, l, w[l], s.acts, s.scratch, kv, s.acts.resid);
  }
}

void Model::Impl::logits_of_rows(InferenceScratch& s, std::span<const std::int32_t> picked,
                                 float* logits_host) const {
  const int n = static_cast<int>(picked.size());
  const int V = cfg.vocab_size;
  // Gather the picked rows (contiguous when every row is picked) and normalize them.
  const float* x = s.acts.resid;
  bool all = n == s.used;
  for (int i = 0; all && i < n; ++i) all = picked[i] == i;
  if (!all) {
    for (int i = 0; i < n; ++i) {
      be.copy(s.scratch.site + static_cast<std::size_t>(i) * d,
              s.acts.resid + static_cast<std::size_t>(picked[i]) * d, sizeof(float) * d);
    }
    x = s.scratch.site;
  }
  be.rmsnorm_forward(s.scratch.dnorm, nullptr, x, norm_f, n, d, cfg.rms_norm_eps);
  if (be.host_addressable()) {
    linear_forward(be, logits_host, s.scratch.dnorm, lm_head, q8_lm_head, n, d, V, false);
    return;
  }
  if (s.logit_rows < n) {
    s.logits = DeviceBuffer::floats(be, static_cast<std::size_t>(n) * V);
    s.logit_rows = n;
  }
  linear_forward(be, s.logits.f32(), s.scratch.dnorm, lm_head, q8_lm_head, n, d, V, false);
  s.logits.download(logits_host, sizeof(float) * static_cast<std::size_t>(n) * V);
}

void Model::forward_logits(const std::int32_t* tokens, int B, int T, float* logits,
                           const CallOptions& call) const {
  const Impl& m = *impl_;
  if (B <= 0 || T <= 0) throw InputError(cat("batch shape ", B, "x", T, " must be positive"));
  if (T > m.cfg.max_position_embeddings) {
    throw InputError(cat("sequence length ", T, " exceeds max_position_embeddings ",
                         m.cfg.max_position_embeddings));
  }
  m.check_tokens(tokens, nullptr, B, T);
  const int N = B * T;
  const CallRows rows = m.training_rows(B, T, call.response_mask);
  const InterventionPass iv(call.interventions, m.be, rows, m.d);
  InferenceScratch s(m.be);
  s.ensure(m.layout, N);
  s.acts.lse = nullptr;
  SelfAttentionKv kv(B, T, m.layout.dims);
  m.forward_rows(s, tokens, rows.pos.data(), N, kv, iv);
  std::vector<std::int32_t> all(static_cast<std::size_t>(N));
  for (int i = 0; i < N; ++i) all[i] = i;
  m.logits_of_rows(s, all, logits);
}

}  // namespace masque
