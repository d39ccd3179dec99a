// The model's inference-only Q8_0 weight copies (see model_q8.h):
// checking them against the parameters, fusing q|k|v and gate|up the way the
// float32 weights are fused, and pointing the blocks' weights and the LM head
// at them. Decoding reads them through linear_forward (decoder_block.h).
#include "model/model_q8.h"

#include "backend/cpu/q8_matmul.h"
#include "core/error.h"
#include "model/model_impl.h"

namespace masque {

void Model::Impl::drop_q8() {
  if (q8.empty()) return;
  for (BlockWeights& b : w) b.q8_wqkv = b.q8_wo = b.q8_wgu = b.q8_wdown = nullptr;
  q8_lm_head = nullptr;
  q8.clear();
}

void drop_q8_weights(Model& model) { model.impl().drop_q8(); }

bool has_q8_weights(const Model& model) { return !model.impl().q8.empty(); }

void set_q8_weights(Model& model, std::map<std::string, Q8Matrix> weights) {
  Model::Impl& m = model.impl();
  m.drop_q8();
  if (!m.be.host_addressable()) return;  // the Q8_0 kernels are the CPU's
  for (const auto& [name, mat] : weights) {
    const ParamView& view = model.param(name);
    if (view.shape.size() != 2 || view.shape[0] != mat.rows || view.shape[1] != mat.in ||
        mat.q.size() != static_cast<std::size_t>(mat.rows) * mat.in ||
        mat.scale.size() != static_cast<std::size_t>(mat.rows) * mat.blocks_per_row()) {
      throw Error(cat("Q8_0 copy of ", name, " is ", mat.rows, " x ", mat.in,
                      ", not the parameter's shape (a bug in masque: please report it)"));
    }
  }
  // One Q8Matrix per fused float32 weight, when every part is there.
  const auto fused = [&](const std::vector<std::string>& names) -> const Q8Matrix* {
    std::vector<const Q8Matrix*> parts;
    for (const std::string& n : names) {
      const auto it = weights.find(n);
      if (it == weights.end()) return nullptr;
      parts.push_back(&it->second);
    }
    m.q8.push_back(
        std::make_unique<Q8Matrix>(parts.size() == 1 ? *parts[0] : cpu::q8_concat_rows(parts)));
    return m.q8.back().get();
  };
  for (int l = 0; l < m.cfg.num_hidden_layers; ++l) {
    const std::string p = cat("model.layers.", l, ".");
    BlockWeights& b = m.w[l];
    b.q8_wqkv = fused({p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                       p + "self_attn.v_proj.weight"});
    b.q8_wo = fused({p + "self_attn.o_proj.weight"});
    b.q8_wgu = fused({p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"});
    b.q8_wdown = fused({p + "mlp.down_proj.weight"});
  }
  m.q8_lm_head = fused(
      {m.cfg.tie_word_embeddings ? std::string("model.embed_tokens.weight") : "lm_head.weight"});
}

void quantize_q8(Model& model) {
  std::map<std::string, Q8Matrix> weights;
  std::vector<float> host;
  for (const ParamView& p : model.params()) {
    const bool linear = p.shape.size() == 2 && p.name != "model.embed_tokens.weight";
    const bool head = p.name == "model.embed_tokens.weight" && model.config().tie_word_embeddings;
    if (!(linear || head) || p.shape[1] % Q8Matrix::kBlock != 0) continue;
    host.resize(p.numel);
    model.read_param(p, host.data());
    Q8Matrix q =
        cpu::q8_quantize(host.data(), static_cast<int>(p.shape[0]), static_cast<int>(p.shape[1]));
    // The float32 weight becomes the Q8_0 values too, so prefill (float32
    // GEMM) and decoding (Q8_0) run one model, as after a Q8_0 export.
    model.write_param(p, cpu::q8_dequantize(q).data());
    weights.emplace(p.name, std::move(q));
  }
  set_q8_weights(model, std::move(weights));
}

}  // namespace masque
