// Model: parameter layout (Hugging Face names and order, one flat buffer),
// initialization, the activation plan, and the public entry points. The math
// of the step is in model_step.cpp; decoding is in inference_session.cpp.
#include "model/model.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/matmul.h"
#include "model/model_impl.h"

namespace masque {

Model::Impl::Impl(const ModelConfig& config) : cfg(config) {
  cfg.validate();
  d = cfg.hidden_size;
  ff = cfg.intermediate_size;
  q_dim = cfg.num_attention_heads * cfg.head_dim;
  kv_dim = cfg.num_key_value_heads * cfg.head_dim;
  qkv_dim = q_dim + 2 * kv_dim;

  auto add = [&](std::string name, std::vector<std::int64_t> shape, bool decay) {
    ParamView view;
    view.name = std::move(name);
    view.shape = std::move(shape);
    view.numel = 1;
    for (auto extent : view.shape) view.numel *= static_cast<std::size_t>(extent);
    view.offset = views.empty() ? 0 : views.back().offset + views.back().numel;
    view.weight_decay = decay;
    views.push_back(std::move(view));
  };
  const std::int64_t V = cfg.vocab_size;
  // Embeddings are not decayed: rows of rare tokens would only ever see the
  // decay and shrink toward zero between their few gradient updates.
  add("model.embed_tokens.weight", {V, d}, false);
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = cat("model.layers.", l, ".");
    add(p + "self_attn.q_proj.weight", {q_dim, d}, true);
    add(p + "self_attn.k_proj.weight", {kv_dim, d}, true);
    add(p + "self_attn.v_proj.weight", {kv_dim, d}, true);
    add(p + "self_attn.o_proj.weight", {d, q_dim}, true);
    add(p + "mlp.gate_proj.weight", {ff, d}, true);
    add(p + "mlp.up_proj.weight", {ff, d}, true);
    add(p + "mlp.down_proj.weight", {d, ff}, true);
    add(p + "input_layernorm.weight", {d}, false);
    add(p + "post_attention_layernorm.weight", {d}, false);
  }
  add("model.norm.weight", {d}, false);
  if (!cfg.tie_word_embeddings) add("lm_head.weight", {V, d}, true);

  const std::size_t total = views.back().offset + views.back().numel;
  params.assign(total, 0.0f);
  grads.assign(total, 0.0f);
  for (std::size_t i = 0; i < views.size(); ++i) {
    views[i].data = params.data() + views[i].offset;
    views[i].grad = grads.data() + views[i].offset;
    view_index.emplace(views[i].name, i);
  }
  embed = views[0].data;
  d_embed = views[0].grad;
  w.resize(cfg.num_hidden_layers);
  g.resize(cfg.num_hidden_layers);
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const ParamView* v = &views[1 + 9 * static_cast<std::size_t>(l)];
    // q,k,v adjacent -> wqkv; gate,up adjacent -> wgu (see model_impl.h).
    w[l] = {v[0].data, v[3].data, v[4].data, v[6].data, v[7].data, v[8].data};
    g[l] = {v[0].grad, v[3].grad, v[4].grad, v[6].grad, v[7].grad, v[8].grad};
  }
  const ParamView& norm_view = views[1 + 9 * static_cast<std::size_t>(cfg.num_hidden_layers)];
  norm_f = norm_view.data;
  d_norm_f = norm_view.grad;
  lm_head = cfg.tie_word_embeddings ? embed : views.back().data;
  d_lm_head = cfg.tie_word_embeddings ? d_embed : views.back().grad;
  rope = cpu::make_rope_tables(cfg.max_position_embeddings, cfg.head_dim, cfg.rope_theta);
}

void Model::Impl::reserve(int B, int T) {
  if (B <= 0 || T <= 0) throw InputError(cat("batch shape ", B, "x", T, " must be positive"));
  if (T > cfg.max_position_embeddings) {
    throw InputError(cat("sequence length ", T, " exceeds max_position_embeddings ",
                         cfg.max_position_embeddings, ": shorten the sequences or build the model with a "
                         "larger max_position_embeddings"));
  }
  const int rows = B * T;
  if (rows <= cap_rows && T <= cap_T) {
    ensure_attention_scratch();
    return;
  }
  const int N = std::max(rows, cap_rows);
  const int Tmax = std::max(T, cap_T);
  const int L = cfg.num_hidden_layers;
  const int H = cfg.num_attention_heads;
  const std::size_t V = static_cast<std::size_t>(cfg.vocab_size);
  // Cross-entropy chunks of ~4M logits (16 MiB): big enough for an efficient
  // sgemm, small enough to stay far below the [N, V] matrix.
  const int chunk = static_cast<int>(std::clamp<std::size_t>((std::size_t{1} << 22) / V, 64, 1024));
  const std::size_t n = static_cast<std::size_t>(N);
  const std::size_t per_layer = n * (2 * d + 2 + qkv_dim + q_dim + H + 2 * ff);
  const std::size_t shared = n * (d + 1 + d + ff + d + d + qkv_dim + q_dim + 2) + static_cast<std::size_t>(chunk) * V;
  arena.assign(per_layer * L + shared, 0.0f);
  float* cursor = arena.data();
  auto take = [&](std::size_t count) {
    float* p = cursor;
    cursor += count;
    return p;
  };
  acts.assign(L, LayerActs{});
  for (int l = 0; l < L; ++l) {
    LayerActs& a = acts[l];
    a.resid = take(n * d);
    a.mid = take(n * d);
    a.rstd1 = take(n);
    a.rstd2 = take(n);
    a.qkv = take(n * qkv_dim);
    a.att = take(n * q_dim);
    a.lse = take(n * H);
    a.gu = take(n * 2 * ff);
  }
  resid_final = take(n * d);
  rstd_f = take(n);
  norm = take(n * d);
  hbuf = take(n * ff);
  dres = take(n * d);
  dnorm = take(n * d);
  dqkv = take(n * qkv_dim);
  datt = take(n * q_dim);
  losses = take(n);
  lse_ce = take(n);
  logits = take(static_cast<std::size_t>(chunk) * V);
  cap_rows = N;
  cap_T = Tmax;
  ce_chunk = chunk;
  attn_threads = 0;
  ensure_attention_scratch();
}

void Model::Impl::ensure_attention_scratch() {
  const int threads = num_threads();
  if (threads <= attn_threads) return;
  cpu::AttentionDims dims;
  dims.Tk = cap_T;
  attn_scratch.assign(cpu::attention_scratch_floats(dims, threads), 0.0f);
  attn_threads = threads;
}

void Model::Impl::check_tokens(const std::int32_t* tokens, const std::int32_t* targets, int B, int T) const {
  const std::size_t rows = static_cast<std::size_t>(B) * T;
  for (std::size_t i = 0; i < rows; ++i) {
    if (tokens[i] < 0 || tokens[i] >= cfg.vocab_size) {
      throw InputError(cat("token id ", tokens[i], " at batch row ", i / T, ", position ", i % T,
                           " is outside the vocabulary [0, ", cfg.vocab_size,
                           "): the data was tokenized with a different tokenizer than the model's"));
    }
    if (targets != nullptr && (targets[i] < -1 || targets[i] >= cfg.vocab_size)) {
      throw InputError(cat("target id ", targets[i], " at batch row ", i / T, ", position ", i % T,
                           " is outside [0, ", cfg.vocab_size, ") and is not the ignore index -1"));
    }
  }
}

Model::Model(const ModelConfig& config) : impl_(std::make_unique<Impl>(config)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const { return impl_->cfg; }

void Model::init_weights(std::uint64_t seed) {
  Impl& m = *impl_;
  const float residual_scale = 1.0f / std::sqrt(2.0f * static_cast<float>(m.cfg.num_hidden_layers));
  // One stream per tensor (seeded from seed and the tensor index) so tensors
  // initialize in parallel and the result does not depend on thread count.
  const int count = static_cast<int>(m.views.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < count; ++i) {
    ParamView& view = m.views[i];
    if (view.shape.size() == 1) {
      std::fill(view.data, view.data + view.numel, 1.0f);
      continue;
    }
    const bool residual_out = view.name.ends_with("o_proj.weight") || view.name.ends_with("down_proj.weight");
    const float stddev = 0.02f * (residual_out ? residual_scale : 1.0f);
    Rng rng(seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(i) + 1);
    for (std::size_t j = 0; j < view.numel; ++j) view.data[j] = static_cast<float>(rng.normal()) * stddev;
  }
}

std::vector<ParamView>& Model::params() { return impl_->views; }
const std::vector<ParamView>& Model::params() const { return impl_->views; }

const ParamView& Model::param(const std::string& name) const {
  auto it = impl_->view_index.find(name);
  if (it == impl_->view_index.end()) {
    throw InputError(cat("unknown parameter '", name, "': names follow Hugging Face LlamaForCausalLM, e.g. "
                         "model.layers.0.self_attn.q_proj.weight"));
  }
  return impl_->views[it->second];
}

float* Model::param_data() { return impl_->params.data(); }
float* Model::grad_data() { return impl_->grads.data(); }
std::size_t Model::num_params() const { return impl_->params.size(); }
void Model::zero_grad() { std::fill(impl_->grads.begin(), impl_->grads.end(), 0.0f); }

void Model::reserve(int B, int T) { impl_->reserve(B, T); }

float Model::forward_backward(const std::int32_t* tokens, const std::int32_t* targets, int B, int T,
                              float grad_scale) {
  Impl& m = *impl_;
  m.reserve(B, T);
  m.check_tokens(tokens, targets, B, T);
  m.forward_blocks(tokens, B, T);
  const float loss = m.head_loss(targets, B * T, true, grad_scale);
  bool any_target = false;
  for (std::size_t i = 0; i < static_cast<std::size_t>(B) * T && !any_target; ++i) any_target = targets[i] >= 0;
  if (any_target) m.backward_blocks(tokens, B, T);
  return loss;
}

float Model::forward_loss(const std::int32_t* tokens, const std::int32_t* targets, int B, int T) {
  Impl& m = *impl_;
  m.reserve(B, T);
  m.check_tokens(tokens, targets, B, T);
  m.forward_blocks(tokens, B, T);
  return m.head_loss(targets, B * T, false, 0.0f);
}

void Model::forward_logits(const std::int32_t* tokens, int B, int T, float* logits) {
  Impl& m = *impl_;
  m.reserve(B, T);
  m.check_tokens(tokens, nullptr, B, T);
  m.forward_blocks(tokens, B, T);
  cpu::matmul_forward(logits, m.norm, m.lm_head, B * T, m.d, m.cfg.vocab_size);
}

void Model::set_residual_hook(ResidualHook hook) { impl_->hook = std::move(hook); }
const ResidualHook& Model::residual_hook() const { return impl_->hook; }

}  // namespace masque
