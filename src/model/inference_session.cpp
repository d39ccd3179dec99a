// InferenceSession: incremental decoding for one sequence with a KV cache
// [L][max_seq_len][H_kv * head_dim] for keys (after RoPE) and values. The same
// kernels as training run on the new rows only; attention reads the cache.
#include <algorithm>
#include <cstring>

#include "backend/cpu/attention.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/swiglu.h"
#include "core/error.h"
#include "core/threads.h"
#include "model/model_impl.h"

namespace masque {

struct InferenceSession::State {
  const Model::Impl& m;
  int max_seq_len = 0;
  int position = 0;
  std::vector<float> k_cache, v_cache;  // [L, max_seq_len, kv_dim]
  // Scratch for `rows` new tokens, grown on demand (prefill), never shrunk.
  int rows = 0;
  std::vector<float> x, norm, qkv, att, gu, h, attn_scratch;
  std::vector<float> logits;
  int attn_threads = 0;

  State(const Model::Impl& model, int max_len) : m(model), max_seq_len(max_len) {
    const std::size_t cache = static_cast<std::size_t>(m.cfg.num_hidden_layers) * max_len * m.kv_dim;
    k_cache.assign(cache, 0.0f);
    v_cache.assign(cache, 0.0f);
    logits.assign(m.cfg.vocab_size, 0.0f);
  }

  void ensure_rows(int n) {
    const int threads = num_threads();
    if (n > rows) {
      const std::size_t r = static_cast<std::size_t>(n);
      x.assign(r * m.d, 0.0f);
      norm.assign(r * m.d, 0.0f);
      qkv.assign(r * m.qkv_dim, 0.0f);
      att.assign(r * m.q_dim, 0.0f);
      gu.assign(r * 2 * m.ff, 0.0f);
      h.assign(r * m.ff, 0.0f);
      rows = n;
    }
    if (threads > attn_threads) {
      cpu::AttentionDims dims;
      dims.Tk = max_seq_len;
      attn_scratch.assign(cpu::attention_scratch_floats(dims, threads), 0.0f);
      attn_threads = threads;
    }
  }
};

InferenceSession::InferenceSession(const Model& model, int max_seq_len) {
  const ModelConfig& cfg = model.config();
  if (max_seq_len <= 0 || max_seq_len > cfg.max_position_embeddings) {
    throw InputError(cat("inference max_seq_len ", max_seq_len, " must be in [1, ", cfg.max_position_embeddings,
                         "] (the model's max_position_embeddings)"));
  }
  state_ = std::make_unique<State>(model.impl(), max_seq_len);
}

InferenceSession::~InferenceSession() = default;

void InferenceSession::reset() { state_->position = 0; }
int InferenceSession::position() const { return state_->position; }
int InferenceSession::max_seq_len() const { return state_->max_seq_len; }

std::span<const float> InferenceSession::append(std::span<const std::int32_t> tokens) {
  State& s = *state_;
  const Model::Impl& m = s.m;
  const ModelConfig& cfg = m.cfg;
  const int n = static_cast<int>(tokens.size());
  if (n == 0) throw InputError("InferenceSession::append needs at least one token");
  if (s.position + n > s.max_seq_len) {
    throw InputError(cat("the KV cache holds ", s.max_seq_len, " tokens: ", s.position, " cached + ", n,
                         " new would overflow it; reset() the session or shorten the prompt"));
  }
  for (int i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= cfg.vocab_size) {
      throw InputError(cat("token id ", tokens[i], " at position ", i, " is outside the vocabulary [0, ",
                           cfg.vocab_size, ")"));
    }
  }
  s.ensure_rows(n);
  const int pos = s.position;
  const int d = m.d;
  cpu::AttentionDims dims;
  dims.B = 1;
  dims.Tq = n;
  dims.Tk = pos + n;
  dims.q_offset = pos;
  dims.n_heads = cfg.num_attention_heads;
  dims.n_kv_heads = cfg.num_key_value_heads;
  dims.head_dim = cfg.head_dim;
  dims.ldq = m.qkv_dim;
  dims.ldk = dims.ldv = m.kv_dim;
  dims.ldo = m.q_dim;
  cpu::embedding_forward(s.x.data(), tokens.data(), m.embed, n, d);
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const LayerWeights& lw = m.w[l];
    float* k_layer = s.k_cache.data() + static_cast<std::size_t>(l) * s.max_seq_len * m.kv_dim;
    float* v_layer = s.v_cache.data() + static_cast<std::size_t>(l) * s.max_seq_len * m.kv_dim;
    cpu::rmsnorm_forward(s.norm.data(), nullptr, s.x.data(), lw.ln1, n, d, cfg.rms_norm_eps);
    cpu::matmul_forward(s.qkv.data(), s.norm.data(), lw.wqkv, n, d, m.qkv_dim);
    cpu::rope_forward(s.qkv.data(), 1, n, cfg.num_attention_heads, cfg.head_dim, m.qkv_dim, pos, m.rope);
    cpu::rope_forward(s.qkv.data() + m.q_dim, 1, n, cfg.num_key_value_heads, cfg.head_dim, m.qkv_dim, pos,
                      m.rope);
    for (int i = 0; i < n; ++i) {
      const float* row = s.qkv.data() + static_cast<std::size_t>(i) * m.qkv_dim;
      std::memcpy(k_layer + static_cast<std::size_t>(pos + i) * m.kv_dim, row + m.q_dim,
                  sizeof(float) * m.kv_dim);
      std::memcpy(v_layer + static_cast<std::size_t>(pos + i) * m.kv_dim, row + m.q_dim + m.kv_dim,
                  sizeof(float) * m.kv_dim);
    }
    cpu::attention_forward(s.att.data(), nullptr, s.qkv.data(), k_layer, v_layer, dims, s.attn_scratch.data(),
                           num_threads());
    cpu::matmul_forward_add(s.x.data(), s.att.data(), lw.wo, n, m.q_dim, d);
    cpu::rmsnorm_forward(s.norm.data(), nullptr, s.x.data(), lw.ln2, n, d, cfg.rms_norm_eps);
    cpu::matmul_forward(s.gu.data(), s.norm.data(), lw.wgu, n, d, 2 * m.ff);
    cpu::swiglu_forward(s.h.data(), s.gu.data(), n, m.ff);
    cpu::matmul_forward_add(s.x.data(), s.h.data(), lw.wdown, n, m.ff, d);
    if (m.hook) m.hook(l, s.x.data(), n, d);
  }
  // Only the last row's logits are needed.
  const float* last = s.x.data() + static_cast<std::size_t>(n - 1) * d;
  cpu::rmsnorm_forward(s.norm.data(), nullptr, last, m.norm_f, 1, d, cfg.rms_norm_eps);
  cpu::matmul_forward(s.logits.data(), s.norm.data(), m.lm_head, 1, d, cfg.vocab_size);
  s.position += n;
  return {s.logits.data(), s.logits.size()};
}

}  // namespace masque
