// Model: parameter layout (Hugging Face names and order, one flat device
// buffer), initialization, the training activation plan, and the public
// entry points. The training step's math is in model_step.cpp; the
// inference forward in model_forward.cpp.
#include "model/model.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/rope.h"
#include "core/error.h"
#include "core/rng.h"
#include "model/model_impl.h"
#include "model/rope_frequencies.h"

namespace masque {

Model::Impl::Impl(const ModelConfig& config, const Backend& backend) : be(backend), cfg(config) {
  cfg.validate();
  d = cfg.hidden_size;
  ff = cfg.intermediate_size;
  q_dim = cfg.num_attention_heads * cfg.head_dim;
  kv_dim = cfg.num_key_value_heads * cfg.head_dim;
  qkv_dim = q_dim + 2 * kv_dim;
  layout.dims = {
      d,      ff,      cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, q_dim,
      kv_dim, qkv_dim, cfg.rms_norm_eps};
  layout.vocab = cfg.vocab_size;
  layout.layers = cfg.num_hidden_layers;
  layout.biases = cfg.has_biases();

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
  // Per layer, the index of each tensor kind in `views` (-1: no such bias).
  struct LayerIndex {
    int q = -1, o = -1, gate = -1, down = -1, ln1 = -1, ln2 = -1;
    int bq = -1, bo = -1, bgate = -1, bdown = -1;
  };
  std::vector<LayerIndex> index(cfg.num_hidden_layers);
  const auto next = [&] { return static_cast<int>(views.size()); };
  // Biases are not decayed (the usual policy: they set offsets, not scales).
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = cat("model.layers.", l, ".");
    LayerIndex& ix = index[l];
    ix.q = next();
    add(p + "self_attn.q_proj.weight", {q_dim, d}, true);
    add(p + "self_attn.k_proj.weight", {kv_dim, d}, true);
    add(p + "self_attn.v_proj.weight", {kv_dim, d}, true);
    if (cfg.qkv_bias) {  // q|k|v biases adjacent: one [qkv_dim] row
      ix.bq = next();
      add(p + "self_attn.q_proj.bias", {q_dim}, false);
      add(p + "self_attn.k_proj.bias", {kv_dim}, false);
      add(p + "self_attn.v_proj.bias", {kv_dim}, false);
    }
    ix.o = next();
    add(p + "self_attn.o_proj.weight", {d, q_dim}, true);
    if (cfg.o_bias) {
      ix.bo = next();
      add(p + "self_attn.o_proj.bias", {d}, false);
    }
    ix.gate = next();
    add(p + "mlp.gate_proj.weight", {ff, d}, true);
    add(p + "mlp.up_proj.weight", {ff, d}, true);
    if (cfg.mlp_bias) {  // gate|up biases adjacent: one [2 ff] row
      ix.bgate = next();
      add(p + "mlp.gate_proj.bias", {ff}, false);
      add(p + "mlp.up_proj.bias", {ff}, false);
    }
    ix.down = next();
    add(p + "mlp.down_proj.weight", {d, ff}, true);
    if (cfg.mlp_bias) {
      ix.bdown = next();
      add(p + "mlp.down_proj.bias", {d}, false);
    }
    ix.ln1 = next();
    add(p + "input_layernorm.weight", {d}, false);
    ix.ln2 = next();
    add(p + "post_attention_layernorm.weight", {d}, false);
  }
  const int norm_index = next();
  add("model.norm.weight", {d}, false);
  if (!cfg.tie_word_embeddings) add("lm_head.weight", {V, d}, true);

  const std::size_t total = views.back().offset + views.back().numel;
  params = DeviceBuffer::floats(be, total);
  grads = DeviceBuffer::floats(be, total);
  for (std::size_t i = 0; i < views.size(); ++i) {
    views[i].data = params.f32() + views[i].offset;
    views[i].grad = grads.f32() + views[i].offset;
    view_index.emplace(views[i].name, i);
  }
  embed = views[0].data;
  d_embed = views[0].grad;
  w.resize(cfg.num_hidden_layers);
  g.resize(cfg.num_hidden_layers);
  const auto data = [&](int i) { return i < 0 ? nullptr : views[i].data; };
  const auto grad = [&](int i) { return i < 0 ? nullptr : views[i].grad; };
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const LayerIndex& ix = index[l];
    // q,k,v adjacent -> wqkv; gate,up adjacent -> wgu (see model_impl.h).
    w[l] = {data(ix.q),   data(ix.o),  data(ix.gate), data(ix.down),  data(ix.ln1),
            data(ix.ln2), data(ix.bq), data(ix.bo),   data(ix.bgate), data(ix.bdown)};
    g[l] = {grad(ix.q),   grad(ix.o),  grad(ix.gate), grad(ix.down),  grad(ix.ln1),
            grad(ix.ln2), grad(ix.bq), grad(ix.bo),   grad(ix.bgate), grad(ix.bdown)};
  }
  const ParamView& norm_view = views[norm_index];
  norm_f = norm_view.data;
  d_norm_f = norm_view.grad;
  lm_head = cfg.tie_word_embeddings ? embed : views.back().data;
  d_lm_head = cfg.tie_word_embeddings ? d_embed : views.back().grad;
  const cpu::RopeTables rope =
      cpu::make_rope_tables(cfg.max_position_embeddings, rope_inv_freq(cfg));
  rope_cos = DeviceBuffer::floats(be, rope.cos.size());
  rope_sin = DeviceBuffer::floats(be, rope.sin.size());
  rope_cos.upload(rope.cos.data(), rope.cos.size() * sizeof(float));
  rope_sin.upload(rope.sin.data(), rope.sin.size() * sizeof(float));
}

void Model::Impl::reserve(int B, int T) {
  if (B <= 0 || T <= 0) throw InputError(cat("batch shape ", B, "x", T, " must be positive"));
  if (T > cfg.max_position_embeddings) {
    throw InputError(
        cat("sequence length ", T, " exceeds max_position_embeddings ", cfg.max_position_embeddings,
            ": shorten the sequences or build the model with a larger max_position_embeddings"));
  }
  const int rows = B * T;
  if (rows <= cap_rows && T <= cap_T) return;
  const int N = std::max(rows, cap_rows);
  const int Tmax = std::max(T, cap_T);
  const int L = cfg.num_hidden_layers;
  const int H = cfg.num_attention_heads;
  const std::size_t n = static_cast<std::size_t>(N);
  const std::size_t per_layer = n * (2 * d + 2 + qkv_dim + q_dim + H + 2 * ff);
  // The LM head's logits chunk lives in train_workspace (Backend::lm_head_loss).
  const std::size_t shared = n * (d + 1 + d + ff + d + d + d + qkv_dim + q_dim);
  arena = DeviceBuffer::floats(be, per_layer * L + shared);
  int_arena = DeviceBuffer::ints(be, 3 * n);
  if (cfg.has_biases()) train_ones = make_ones(be, n);
  float* cursor = arena.f32();
  auto take = [&](std::size_t count) {
    float* p = cursor;
    cursor += count;
    return p;
  };
  acts.assign(L, BlockActs{});
  for (int l = 0; l < L; ++l) {
    BlockActs& a = acts[l];
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
  train_scratch.norm = take(n * d);
  train_scratch.h = take(n * ff);
  train_scratch.site = take(n * d);
  dres = take(n * d);
  train_scratch.dnorm = take(n * d);
  train_scratch.dqkv = take(n * qkv_dim);
  train_scratch.datt = take(n * q_dim);
  head_losses.resize(n);
  head_scales.resize(n);
  dev_positions = int_arena.i32();
  dev_tokens = dev_positions + n;
  dev_targets = dev_tokens + n;
  cap_rows = N;
  cap_T = Tmax;
  if (!train_workspace) train_workspace = std::make_unique<Workspace>(be);
}

void Model::Impl::check_tokens(const std::int32_t* tokens, const std::int32_t* targets, int B,
                               int T) const {
  const std::size_t rows = static_cast<std::size_t>(B) * T;
  for (std::size_t i = 0; i < rows; ++i) {
    if (tokens[i] < 0 || tokens[i] >= cfg.vocab_size) {
      throw InputError(
          cat("token id ", tokens[i], " at batch row ", i / T, ", position ", i % T,
              " is outside the vocabulary [0, ", cfg.vocab_size,
              "): the data was tokenized with a different tokenizer than the model's"));
    }
    if (targets != nullptr && (targets[i] < -1 || targets[i] >= cfg.vocab_size)) {
      throw InputError(cat("target id ", targets[i], " at batch row ", i / T, ", position ", i % T,
                           " is outside [0, ", cfg.vocab_size, ") and is not the ignore index -1"));
    }
  }
}

CallRows Model::Impl::training_rows(int B, int T, const std::uint8_t* response_mask) const {
  CallRows rows;
  const std::size_t n = static_cast<std::size_t>(B) * T;
  rows.seq.resize(n);
  rows.pos.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    rows.seq[i] = static_cast<std::int32_t>(i / T);
    rows.pos[i] = static_cast<std::int32_t>(i % T);
  }
  if (response_mask != nullptr) rows.response.assign(response_mask, response_mask + n);
  return rows;
}

Model::Model(const ModelConfig& config, const Backend& backend)
    : impl_(std::make_unique<Impl>(config, backend)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const { return impl_->cfg; }
const Backend& Model::backend() const { return impl_->be; }

void Model::init_weights(std::uint64_t seed) {
  Impl& m = *impl_;
  m.drop_q8();
  const float residual_scale = 1.0f / std::sqrt(2.0f * static_cast<float>(m.cfg.num_hidden_layers));
  // One stream per tensor (seeded from seed and the tensor index), so the
  // result does not depend on thread count. Drawn in place where the backend
  // addresses host memory, else on the host and uploaded.
  std::vector<float> staging;
  if (!m.be.host_addressable()) staging.resize(m.params.num_floats());
  float* host = m.be.host_addressable() ? m.params.f32() : staging.data();
  const int count = static_cast<int>(m.views.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < count; ++i) {
    const ParamView& view = m.views[i];
    float* out = host + view.offset;
    if (view.shape.size() == 1) {  // norms start at one, biases at zero
      std::fill(out, out + view.numel, view.name.ends_with(".bias") ? 0.0f : 1.0f);
      continue;
    }
    const bool residual_out =
        view.name.ends_with("o_proj.weight") || view.name.ends_with("down_proj.weight");
    const float stddev = 0.02f * (residual_out ? residual_scale : 1.0f);
    Rng rng(seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(i) + 1);
    for (std::size_t j = 0; j < view.numel; ++j) {
      out[j] = static_cast<float>(rng.normal()) * stddev;
    }
  }
  if (!staging.empty()) m.params.upload(staging.data(), staging.size() * sizeof(float));
}

std::vector<ParamView>& Model::params() { return impl_->views; }
const std::vector<ParamView>& Model::params() const { return impl_->views; }

const ParamView& Model::param(const std::string& name) const {
  auto it = impl_->view_index.find(name);
  if (it == impl_->view_index.end()) {
    throw InputError(cat("unknown parameter '", name,
                         "': names follow Hugging Face LlamaForCausalLM, e.g. "
                         "model.layers.0.self_attn.q_proj.weight"));
  }
  return impl_->views[it->second];
}

float* Model::param_data() {
  impl_->drop_q8();  // the caller may write through it (the optimizer)
  return impl_->params.f32();
}
const float* Model::param_data() const { return impl_->params.f32(); }
float* Model::grad_data() { return impl_->grads.f32(); }
std::size_t Model::num_params() const { return impl_->params.num_floats(); }
void Model::zero_grad() { impl_->be.fill_zero(impl_->grads.data(), impl_->grads.bytes()); }

void Model::read_param(const ParamView& view, float* host) const {
  impl_->params.download(host, view.numel * sizeof(float), view.offset * sizeof(float));
}

void Model::read_grad(const ParamView& view, float* host) const {
  impl_->grads.download(host, view.numel * sizeof(float), view.offset * sizeof(float));
}

void Model::write_param(const ParamView& view, const float* host) {
  impl_->drop_q8();
  impl_->params.upload(host, view.numel * sizeof(float), view.offset * sizeof(float));
}

void Model::copy_params_from(const Model& other) {
  if (other.config().to_json() != config().to_json() || other.num_params() != num_params()) {
    throw InputError("cannot copy weights between models of different configs");
  }
  impl_->drop_q8();
  if (&other.backend() == &backend()) {
    backend().copy(impl_->params.data(), other.impl_->params.data(), impl_->params.bytes());
    return;
  }
  std::vector<float> host(num_params());
  other.impl_->params.download(host.data(), host.size() * sizeof(float));
  impl_->params.upload(host.data(), host.size() * sizeof(float));
}

void Model::reserve(int B, int T) { impl_->reserve(B, T); }

}  // namespace masque
