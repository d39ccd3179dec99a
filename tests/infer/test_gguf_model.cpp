// GGUF export/import of a whole model: the Q/K permutation is llama.cpp's
// (checked against an explicit index formula) and its inverse; an F32 round
// trip gives bit-identical logits and the same tokenizer; F16/Q8_0 stay within
// the tolerances docs/gguf.md states; what llama.cpp cannot represent or
// masque cannot run is refused with the field named.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "infer/gguf_model.h"
#include "tiny_world.h"
#include "tokenizer/chat_template.h"

namespace masque {
namespace {

namespace fs = std::filesystem;

LoadedModel tiny_loaded(const test_world::TinyWorld& w, bool tied, std::uint64_t seed) {
  ModelConfig c = w.config;
  c.tie_word_embeddings = tied;
  c.vocab_size = static_cast<int>(w.tokenizer.vocab_size()) + 4;  // padded model vocab
  LoadedModel loaded;
  loaded.model = std::make_unique<Model>(c);
  loaded.model->init_weights(seed);
  loaded.tokenizer = Tokenizer::from_json_text(w.tokenizer.to_json_text(), "tiny");
  loaded.dir = w.dir / "no-such-model";
  return loaded;
}

std::vector<float> logits_of(const Model& model, const std::vector<std::int32_t>& ids) {
  std::vector<float> out(ids.size() * model.config().vocab_size);
  model.forward_logits(ids.data(), 1, static_cast<int>(ids.size()), out.data());
  return out;
}

TEST(GgufModel, PermutationIsLlamaCppsAndInverts) {
  // llama.cpp: w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).reshape(rows, cols):
  // new row h*hd + 2*j + p takes old row h*hd + p*hd/2 + j.
  const int heads = 3, hd = 8, cols = 2, rows = heads * hd;
  std::vector<float> w(rows * cols);
  for (int i = 0; i < rows * cols; ++i) w[i] = static_cast<float>(i);
  std::vector<float> p(w.size()), back(w.size());
  permute_qk_rows(w.data(), p.data(), heads, hd, cols);
  for (int h = 0; h < heads; ++h)
    for (int j = 0; j < hd / 2; ++j)
      for (int part = 0; part < 2; ++part)
        for (int c = 0; c < cols; ++c)
          EXPECT_EQ(p[(h * hd + 2 * j + part) * cols + c],
                    w[(h * hd + part * hd / 2 + j) * cols + c]);
  unpermute_qk_rows(p.data(), back.data(), heads, hd, cols);
  EXPECT_EQ(back, w);
}

TEST(GgufModel, F32RoundTripIsExactForModelAndTokenizer) {
  const auto w = test_world::make_tiny_world("gguf_rt");
  for (bool tied : {false, true}) {
    const LoadedModel src = tiny_loaded(w, tied, 11);
    const fs::path path = w.dir / (tied ? "tied.gguf" : "untied.gguf");
    const GgufExportSummary s = export_gguf(src, path, {});
    EXPECT_EQ(s.pre_tokenizer, "dbrx");
    EXPECT_TRUE(s.chat_template);
    EXPECT_EQ(s.tensors, 2u + 9u * 2 + (tied ? 0 : 1));

    const GgufFile f(path);
    EXPECT_EQ(f.get("general.architecture").as_string(""), "llama");
    EXPECT_EQ(f.get("llama.attention.head_count_kv").type(), GgufType::U32);
    EXPECT_EQ(f.get("llama.rope.freq_base").type(), GgufType::F32);
    EXPECT_EQ(f.has_tensor("output.weight"), !tied);
    EXPECT_EQ(f.get("tokenizer.chat_template").as_string(""), chat_template_jinja());
    const auto tokens = f.get("tokenizer.ggml.tokens").as_strings("");
    const auto types = f.get("tokenizer.ggml.token_type").as_i64s("");
    ASSERT_EQ(tokens.size(), static_cast<std::size_t>(src.model->config().vocab_size));
    const std::uint32_t end = *src.tokenizer.special_id(kEndTurnToken);
    EXPECT_EQ(tokens[end], "<|end|>");
    EXPECT_EQ(types[end], 3);                // control
    EXPECT_EQ(types[tokens.size() - 1], 5);  // padding rows: unused
    EXPECT_EQ(f.get("tokenizer.ggml.eot_token_id").as_u64(""), end);
    EXPECT_TRUE(
        f.get("tokenizer.ggml.add_bos_token").as_bool(""));  // TemplateProcessing <|bos|> $A
    EXPECT_EQ(f.tensor("blk.0.attn_k.weight").dims,
              (std::vector<std::uint64_t>{32, 16}));  // {in, out}: 2 kv heads x 8

    const LoadedModel back = load_model_dir(path);  // the GGUF path of the common loader
    EXPECT_EQ(back.model->config(), src.model->config());
    const std::vector<std::int32_t> ids{
        static_cast<std::int32_t>(src.tokenizer.bos_id()), 5, 40, 77, 100, 3, 250, 9};
    EXPECT_EQ(logits_of(*back.model, ids), logits_of(*src.model, ids));
    const std::string text = "Ada sees the cat. <|user|> ünï\n\n  x";
    EXPECT_EQ(back.tokenizer.encode(text), src.tokenizer.encode(text));
    EXPECT_EQ(back.tokenizer.encode_with_specials(text), src.tokenizer.encode_with_specials(text));
    EXPECT_EQ(back.tokenizer.fingerprint(), src.tokenizer.fingerprint());
  }
}

TEST(GgufModel, F16AndQ8_0StayWithinStatedTolerance) {
  const auto w = test_world::make_tiny_world("gguf_quant");
  const LoadedModel src = tiny_loaded(w, false, 5);
  const std::vector<std::int32_t> ids{1, 2, 3, 50, 60, 70, 80, 90};
  const std::vector<float> ref = logits_of(*src.model, ids);
  for (auto [type, tol] : {std::pair{GgmlType::F16, 1e-3}, std::pair{GgmlType::Q8_0, 2e-2}}) {
    const fs::path path = w.dir / cat(ggml_type_name(type), ".gguf");
    GgufExportOptions o;
    o.type = type;
    export_gguf(src, path, o);
    EXPECT_EQ(GgufFile(path).tensor("blk.1.ffn_up.weight").type, type);
    EXPECT_EQ(GgufFile(path).tensor("blk.1.ffn_norm.weight").type, GgmlType::F32);
    const std::vector<float> got = logits_of(*load_gguf_model(path).model, ids);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      num += (got[i] - ref[i]) * (got[i] - ref[i]);
      den += ref[i] * ref[i];
    }
    EXPECT_LT(std::sqrt(num / den), tol) << ggml_type_name(type);
    EXPECT_GT(num, 0.0) << "a quantized export must not be the f32 data";
  }
}

TEST(GgufModel, RefusesWhatLlamaCppCannotRepresent) {
  const auto w = test_world::make_tiny_world("gguf_refuse");
  LoadedModel src = tiny_loaded(w, true, 1);
  GgufExportOptions q8;
  q8.type = GgmlType::Q8_0;
  ModelConfig odd = src.model->config();
  odd.hidden_size = 40;  // rows of 40 elements: not a multiple of Q8_0's 32
  odd.num_attention_heads = 5;
  odd.num_key_value_heads = 5;
  LoadedModel odd_model;
  odd_model.model = std::make_unique<Model>(odd);
  odd_model.tokenizer = Tokenizer::from_json_text(w.tokenizer.to_json_text(), "tiny");
  EXPECT_THROW(export_gguf(odd_model, w.dir / "odd.gguf", q8), InputError);
  EXPECT_FALSE(fs::exists(w.dir / "odd.gguf"));
}

TEST(GgufModel, ImportRefusesForeignOrInconsistentFiles) {
  const auto w = test_world::make_tiny_world("gguf_import_bad");
  const LoadedModel src = tiny_loaded(w, true, 2);
  const fs::path good = w.dir / "good.gguf";
  export_gguf(src, good, {});
  const GgufFile f(good);
  // Rebuild the file with one change each.
  const auto rewrite = [&](const std::string& drop_key, const std::string& key, GgufValue value,
                           bool extra_tensor) {
    GgufWriter out;
    for (const auto& [k, v] : f.metadata())
      if (k != drop_key) out.set(k, v);
    if (!key.empty()) out.set(key, std::move(value));
    for (const GgufTensorInfo& t : f.tensors()) {
      out.add_tensor(t.name, t.type, t.dims,
                     std::string(reinterpret_cast<const char*>(f.tensor_data(t.name)), t.bytes));
    }
    if (extra_tensor) {
      std::vector<float> x(4);
      out.add_tensor_f32("blk.0.attn_q.bias", GgmlType::F32, {4}, x.data());
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
  EXPECT_NE(message(rewrite("", "general.architecture", GgufValue::string("qwen2"), false))
                .find("general.architecture"),
            std::string::npos);
  EXPECT_NE(message(rewrite("llama.block_count", "", {}, false)).find("llama.block_count"),
            std::string::npos);
  EXPECT_NE(message(rewrite("", "llama.block_count", GgufValue::string("2"), false))
                .find("llama.block_count"),
            std::string::npos);
  EXPECT_NE(message(rewrite("", "llama.embedding_length", GgufValue::u32(64), false))
                .find("hyperparameters describe"),
            std::string::npos);
  EXPECT_NE(message(rewrite("", "tokenizer.ggml.pre", GgufValue::string("qwen2"), false))
                .find("tokenizer.ggml.pre"),
            std::string::npos);
  EXPECT_NE(message(rewrite("", "", {}, true)).find("hyperparameters describe"), std::string::npos);
  // A token that is not UTF-8 (found by fuzz_gguf) is a format error naming
  // the index, not the JSON library's internal error.
  auto tokens = f.get("tokenizer.ggml.tokens").as_strings("");
  tokens[7] = std::string("a\xff", 2);
  EXPECT_NE(message(rewrite("", "tokenizer.ggml.tokens", GgufValue::strings(tokens), false))
                .find("tokenizer.ggml.tokens[7] is not valid UTF-8"),
            std::string::npos);
}

}  // namespace
}  // namespace masque
