// A float64 LLaMA forward written independently of the kernels, straight from
// the equations (HF LlamaForCausalLM semantics), reading parameters by their
// Hugging Face names from a flat double copy of the model's buffer. The model
// tests compare the float32 model's loss and logits with it and
// finite-difference its loss to check every gradient.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/model.h"

namespace masque::test {

// Called at each intervention site with the activation there ([N, d] rows):
// the reference's twin of the model's interventions.
using RefHook =
    std::function<void(InterventionSite site, int layer, std::vector<double>& x, int N, int d)>;

class ReferenceModel {
 public:
  explicit ReferenceModel(const Model& model) : cfg_(model.config()), views_(model.params()) {
    for (const auto& v : views_) offsets_[v.name] = v.offset;
  }

  // logits [B*T, V] for params (same layout as the model's flat buffer).
  // `hook`, when set, may read or change the activation at every site.
  std::vector<double> logits(const std::vector<double>& p, const std::vector<std::int32_t>& tokens,
                             int B, int T, const RefHook& hook = {}) const {
    const int d = cfg_.hidden_size, hd = cfg_.head_dim, H = cfg_.num_attention_heads,
              Hkv = cfg_.num_key_value_heads, ff = cfg_.intermediate_size, V = cfg_.vocab_size;
    const int N = B * T;
    std::vector<double> x(static_cast<std::size_t>(N) * d);
    const double* embed = at(p, "model.embed_tokens.weight");
    for (int r = 0; r < N; ++r)
      for (int i = 0; i < d; ++i) x[r * d + i] = embed[tokens[r] * d + i];
    if (hook) hook(InterventionSite::kEmbed, -1, x, N, d);
    for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
      const std::string pre = "model.layers." + std::to_string(l) + ".";
      auto h = rms(x, at(p, pre + "input_layernorm.weight"), N, d);
      auto q = linear(h, at(p, pre + "self_attn.q_proj.weight"), N, d, H * hd);
      auto k = linear(h, at(p, pre + "self_attn.k_proj.weight"), N, d, Hkv * hd);
      auto v = linear(h, at(p, pre + "self_attn.v_proj.weight"), N, d, Hkv * hd);
      rope(q, N, T, H, hd);
      rope(k, N, T, Hkv, hd);
      std::vector<double> att(static_cast<std::size_t>(N) * H * hd, 0.0);
      for (int b = 0; b < B; ++b)
        for (int head = 0; head < H; ++head)
          for (int i = 0; i < T; ++i) {
            const int kvh = head / (H / Hkv);
            std::vector<double> s(i + 1);
            double m = -1e300;
            for (int j = 0; j <= i; ++j) {
              double dot = 0.0;
              for (int e = 0; e < hd; ++e)
                dot += q[((b * T + i) * H + head) * hd + e] * k[((b * T + j) * Hkv + kvh) * hd + e];
              s[j] = dot / std::sqrt(static_cast<double>(hd));
              m = std::max(m, s[j]);
            }
            double sum = 0.0;
            for (auto& val : s) sum += (val = std::exp(val - m));
            for (int e = 0; e < hd; ++e) {
              double acc = 0.0;
              for (int j = 0; j <= i; ++j) acc += s[j] * v[((b * T + j) * Hkv + kvh) * hd + e];
              att[((b * T + i) * H + head) * hd + e] = acc / sum;
            }
          }
      auto o = linear(att, at(p, pre + "self_attn.o_proj.weight"), N, H * hd, d);
      if (hook) hook(InterventionSite::kAttnOut, l, o, N, d);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      h = rms(x, at(p, pre + "post_attention_layernorm.weight"), N, d);
      auto gate = linear(h, at(p, pre + "mlp.gate_proj.weight"), N, d, ff);
      auto up = linear(h, at(p, pre + "mlp.up_proj.weight"), N, d, ff);
      for (std::size_t i = 0; i < gate.size(); ++i)
        gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      auto down = linear(gate, at(p, pre + "mlp.down_proj.weight"), N, ff, d);
      if (hook) hook(InterventionSite::kMlpOut, l, down, N, d);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += down[i];
      if (hook) hook(InterventionSite::kResidPost, l, x, N, d);
    }
    auto h = rms(x, at(p, "model.norm.weight"), N, d);
    const double* head = cfg_.tie_word_embeddings ? embed : at(p, "lm_head.weight");
    return linear(h, head, N, d, V);
  }

  double loss(const std::vector<double>& p, const std::vector<std::int32_t>& tokens,
              const std::vector<std::int32_t>& targets, int B, int T,
              const RefHook& hook = {}) const {
    const int V = cfg_.vocab_size;
    auto z = logits(p, tokens, B, T, hook);
    double total = 0.0;
    int count = 0;
    for (int r = 0; r < B * T; ++r) {
      if (targets[r] < 0) continue;
      double m = -1e300, s = 0.0;
      for (int v = 0; v < V; ++v) m = std::max(m, z[r * V + v]);
      for (int v = 0; v < V; ++v) s += std::exp(z[r * V + v] - m);
      total += m + std::log(s) - z[r * V + targets[r]];
      ++count;
    }
    return total / count;
  }

 private:
  const double* at(const std::vector<double>& p, const std::string& name) const {
    return p.data() + offsets_.at(name);
  }
  std::vector<double> rms(const std::vector<double>& x, const double* w, int N, int d) const {
    std::vector<double> y(x.size());
    for (int r = 0; r < N; ++r) {
      double ms = 0.0;
      for (int i = 0; i < d; ++i) ms += x[r * d + i] * x[r * d + i];
      const double rs = 1.0 / std::sqrt(ms / d + cfg_.rms_norm_eps);
      for (int i = 0; i < d; ++i) y[r * d + i] = w[i] * x[r * d + i] * rs;
    }
    return y;
  }
  static std::vector<double> linear(const std::vector<double>& x, const double* w, int N, int in,
                                    int out) {
    std::vector<double> y(static_cast<std::size_t>(N) * out, 0.0);
    for (int r = 0; r < N; ++r)
      for (int o = 0; o < out; ++o) {
        double s = 0.0;
        for (int i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
        y[r * out + o] = s;
      }
    return y;
  }
  void rope(std::vector<double>& x, int N, int T, int heads, int hd) const {
    const int half = hd / 2;
    for (int r = 0; r < N; ++r)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < half; ++i) {
          const double angle =
              (r % T) * std::pow(static_cast<double>(cfg_.rope_theta), -2.0 * i / hd);
          double& a = x[(r * heads + h) * hd + i];
          double& b = x[(r * heads + h) * hd + i + half];
          const double a0 = a, b0 = b;
          a = a0 * std::cos(angle) - b0 * std::sin(angle);
          b = b0 * std::cos(angle) + a0 * std::sin(angle);
        }
  }

  ModelConfig cfg_;
  std::vector<ParamView> views_;
  std::unordered_map<std::string, std::size_t> offsets_;
};

}  // namespace masque::test
