// GGUF export/import of what llama.cpp's llama architecture represents
// beyond a plain Llama: attention and MLP biases (Llama attention_bias /
// mlp_bias, and Qwen2's q/k/v biases) as its optional *.bias tensors, Q/K
// biases permuted like their rows; Llama 3 RoPE scaling as its rope_freqs
// tensor plus masque.rope.scaling.* keys. Each round trip gives the same
// config and the same logits; a rope_freqs masque did not write, or one that
// disagrees with the keys, is refused. (llama.cpp itself checks the same
// files in tests/python_llamacpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "core/rng.h"
#include "infer/gguf_model.h"
#include "tiny_world.h"

namespace masque {
namespace {

namespace fs = std::filesystem;

LoadedModel loaded_with(const test_world::TinyWorld& w, const ModelConfig& c) {
  LoadedModel loaded;
  loaded.model = std::make_unique<Model>(c);
  loaded.model->init_weights(21);
  Rng rng(4);  // biases start at zero: make them matter
  for (const ParamView& p : loaded.model->params()) {
    if (!p.name.ends_with(".bias")) continue;
    std::vector<float> b(p.numel);
    for (float& x : b) x = static_cast<float>(0.3 * rng.normal());
    loaded.model->write_param(p, b.data());
  }
  loaded.tokenizer = Tokenizer::from_json_text(w.tokenizer.to_json_text(), "tiny");
  loaded.dir = w.dir / "no-such-model";
  return loaded;
}

std::vector<float> logits_of(const Model& model) {
  const std::vector<std::int32_t> ids{1, 2, 3, 50, 60, 70, 80, 90, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  std::vector<float> out(ids.size() * model.config().vocab_size);
  model.forward_logits(ids.data(), 1, static_cast<int>(ids.size()), out.data());
  return out;
}

void expect_round_trip(const test_world::TinyWorld& w, const ModelConfig& c, const char* name,
                       const std::vector<std::string>& tensors) {
  const LoadedModel src = loaded_with(w, c);
  const fs::path path = w.dir / (std::string(name) + ".gguf");
  const GgufExportSummary s = export_gguf(src, path, {});
  const GgufFile f(path);
  EXPECT_EQ(s.tensors, f.tensors().size()) << name;
  EXPECT_EQ(f.get("general.architecture").as_string(""), "llama") << name;
  for (const std::string& t : tensors) EXPECT_TRUE(f.has_tensor(t)) << name << ": " << t;
  const LoadedModel back = load_gguf_model(path);
  EXPECT_EQ(back.model->config().to_json(), src.model->config().to_json()) << name;
  const std::vector<float> a = logits_of(*src.model), b = logits_of(*back.model);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << name << " logit " << i;
}

TEST(GgufBiasRope, BiasesRoundTripAsLlamaCppBiasTensors) {
  const auto w = test_world::make_tiny_world("gguf_bias");
  ModelConfig llama = w.config;
  llama.qkv_bias = llama.o_bias = llama.mlp_bias = true;
  expect_round_trip(
      w, llama, "llama-bias",
      {"blk.1.attn_q.bias", "blk.1.attn_k.bias", "blk.1.attn_v.bias", "blk.1.attn_output.bias",
       "blk.1.ffn_gate.bias", "blk.1.ffn_up.bias", "blk.1.ffn_down.bias"});
  ModelConfig qwen2 = w.config;
  qwen2.model_type = "qwen2";
  qwen2.qkv_bias = true;
  expect_round_trip(w, qwen2, "qwen2", {"blk.0.attn_q.bias", "blk.0.attn_v.bias"});
  // The Q bias is permuted like Q's rows (llama.cpp's RoPE pairs).
  const LoadedModel src = loaded_with(w, qwen2);
  export_gguf(src, w.dir / "qwen2-check.gguf", {});
  const GgufFile f(w.dir / "qwen2-check.gguf");
  const ParamView& bq = src.model->param("model.layers.0.self_attn.q_proj.bias");
  std::vector<float> hf(bq.numel), want(bq.numel);
  src.model->read_param(bq, hf.data());
  const int heads = qwen2.num_attention_heads;
  permute_qk_rows(hf.data(), want.data(), heads, static_cast<int>(bq.numel) / heads, 1);
  EXPECT_EQ(f.tensor_f32("blk.0.attn_q.bias"), want);
}

TEST(GgufBiasRope, Llama3RopeRoundTripsThroughRopeFreqs) {
  const auto w = test_world::make_tiny_world("gguf_llama3");
  ModelConfig c = w.config;
  c.rope_type = "llama3";
  c.rope_factor = 4.0;
  c.rope_low_freq_factor = 1.0;
  c.rope_high_freq_factor = 4.0;
  c.rope_original_max_position_embeddings = 16;  // puts pairs in all three regions
  expect_round_trip(w, c, "llama3", {"rope_freqs.weight"});
  const GgufFile f(w.dir / "llama3.gguf");
  const std::vector<float> factors = f.tensor_f32("rope_freqs.weight");
  ASSERT_EQ(factors.size(), static_cast<std::size_t>(c.head_dim / 2));
  // Pair 0 (wavelength 2 pi) lies between 16 / 4 and 16 / 1: a blend.
  const double smooth = (16.0 / (2.0 * std::numbers::pi) - 1.0) / (4.0 - 1.0);
  EXPECT_NEAR(factors[0], 1.0 / ((1.0 - smooth) / 4.0 + smooth), 1e-6)
      << "pair 0 lies between the wavelength limits: a blend";
  EXPECT_FLOAT_EQ(factors.back(), 4.0f) << "the longest wavelength is scaled by the factor";

  // A rope_freqs masque did not write, and one that disagrees with the keys.
  const auto rewrite = [&](bool keep_keys, float scale) {
    GgufWriter out;
    for (const auto& [k, v] : f.metadata())
      if (keep_keys || k.rfind("masque.", 0) != 0) out.set(k, v);
    for (const GgufTensorInfo& t : f.tensors()) {
      if (t.name == "rope_freqs.weight") {
        std::vector<float> x = f.tensor_f32(t.name);
        for (float& v : x) v *= scale;
        out.add_tensor_f32(t.name, GgmlType::F32, t.dims, x.data());
      } else {
        out.add_tensor(t.name, t.type, t.dims,
                       std::string(reinterpret_cast<const char*>(f.tensor_data(t.name)), t.bytes));
      }
    }
    const fs::path p = w.dir / "bad.gguf";
    out.write(p);
    return p;
  };
  const auto message = [](const fs::path& p) -> std::string {
    try {
      load_gguf_model(p);
    } catch (const FormatError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message(rewrite(false, 1.0f)).find("not written by masque"), std::string::npos);
  EXPECT_NE(message(rewrite(true, 1.5f)).find("rope_freqs.weight differs"), std::string::npos);
}

}  // namespace
}  // namespace masque
