// llama GGUF -> masque model + tokenizer. The config comes from the llama.*
// keys (and the optional bias and rope_freqs tensors), the weights are
// decoded to float32 (F16/BF16/Q8_0 files are dequantized on load; Q8_0
// matrices are also kept as Q8_0 for decoding) with Q/K rows put back into
// HF's rotate_half order, and the tokenizer is rebuilt as the tokenizer.json
// it came from, so the one tokenizer loader validates it. Anything masque
// cannot run the way llama.cpp would is refused, naming the key or tensor.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "backend/cpu/q8_matmul.h"
#include "core/error.h"
#include "core/json_util.h"
#include "infer/gguf_model.h"
#include "model/model_q8.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode_class.h"

namespace masque {
namespace fs = std::filesystem;

namespace {

// tokenizer.json is JSON, so every token and merge must be valid UTF-8; a
// GGUF string that is not would otherwise fail deep inside the JSON writer.
// decode_utf8 reads an invalid byte as a one-byte character.
void require_utf8(const std::string& text, const std::string& where, const char* key,
                  std::size_t index) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const Utf8Char c = decode_utf8(p, end);
    if (p[0] >= 0x80 && c.len < 2) {
      throw FormatError(cat(where, ": ", key, "[", index, "] is not valid UTF-8 (byte offset ",
                            p - reinterpret_cast<const unsigned char*>(text.data()),
                            "); GGUF strings must be UTF-8, so the file is corrupt"));
    }
    p += c.len;
  }
}

int int_key(const GgufFile& f, const std::string& key) {
  const std::uint64_t v = f.get(key).as_u64(key);
  if (v > (1u << 30))
    throw FormatError(cat(f.path().string(), ": ", key, " = ", v, " is out of range"));
  return static_cast<int>(v);
}

int int_key_or(const GgufFile& f, const std::string& key, int fallback) {
  return f.find(key) ? int_key(f, key) : fallback;
}

ModelConfig config_from(const GgufFile& f, int vocab_size) {
  const std::string where = f.path().string();
  const std::string& arch = f.get("general.architecture").as_string("general.architecture");
  if (arch != "llama") {
    throw FormatError(
        cat(where, ": general.architecture is \"", arch, "\"; masque runs llama GGUF files only"));
  }
  ModelConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = int_key(f, "llama.embedding_length");
  c.intermediate_size = int_key(f, "llama.feed_forward_length");
  c.num_hidden_layers = int_key(f, "llama.block_count");
  c.num_attention_heads = int_key(f, "llama.attention.head_count");
  c.num_key_value_heads = int_key_or(f, "llama.attention.head_count_kv", c.num_attention_heads);
  const int default_head_dim =
      c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  c.head_dim = int_key_or(f, "llama.attention.key_length", default_head_dim);
  if (int_key_or(f, "llama.attention.value_length", c.head_dim) != c.head_dim) {
    throw FormatError(cat(where, ": llama.attention.value_length differs from key_length"));
  }
  if (int_key_or(f, "llama.rope.dimension_count", c.head_dim) != c.head_dim) {
    throw FormatError(cat(where, ": llama.rope.dimension_count differs from the head size ",
                          c.head_dim, " (partial rotary embeddings are not supported)"));
  }
  c.max_position_embeddings = int_key(f, "llama.context_length");
  c.rms_norm_eps = static_cast<float>(f.get("llama.attention.layer_norm_rms_epsilon")
                                          .as_f64("llama.attention.layer_norm_rms_epsilon"));
  if (const GgufValue* base = f.find("llama.rope.freq_base")) {
    c.rope_theta = static_cast<float>(base->as_f64("llama.rope.freq_base"));
  }
  if (const GgufValue* type = f.find("llama.rope.scaling.type")) {
    const std::string& t = type->as_string("llama.rope.scaling.type");
    if (t == "linear") {
      c.rope_type = "linear";
      c.rope_factor = f.get("llama.rope.scaling.factor").as_f64("llama.rope.scaling.factor");
    } else if (t != "none") {
      throw FormatError(cat(where, ": llama.rope.scaling.type \"", t, "\" is not supported"));
    }
  }
  if (f.has_tensor("rope_freqs.weight")) {
    // Per-pair frequency divisors: masque reads them as the Llama 3 scaling
    // its own export writes, whose parameters the masque.rope.scaling.* keys
    // carry (the divisors alone do not determine them); load_gguf_model then
    // checks the tensor against them.
    const GgufValue* type = f.find("masque.rope.scaling.type");
    if (type == nullptr || type->as_string("masque.rope.scaling.type") != "llama3") {
      throw FormatError(cat(where,
                            ": rope_freqs.weight without masque.rope.scaling.type = llama3 (a "
                            "file not written by masque); masque cannot recover RoPE scaling "
                            "parameters from the per-frequency factors"));
    }
    const auto num = [&](const char* key) { return f.get(key).as_f64(key); };
    c.rope_type = "llama3";
    c.rope_factor = num("masque.rope.scaling.factor");
    c.rope_low_freq_factor = num("masque.rope.scaling.low_freq_factor");
    c.rope_high_freq_factor = num("masque.rope.scaling.high_freq_factor");
    c.rope_original_max_position_embeddings =
        int_key(f, "masque.rope.scaling.original_context_length");
  }
  // Optional bias tensors of llama.cpp's llama architecture; q/k/v biases
  // alone are Qwen2 (masque's export writes Qwen2 this way).
  c.qkv_bias = f.has_tensor("blk.0.attn_q.bias");
  c.o_bias = f.has_tensor("blk.0.attn_output.bias");
  c.mlp_bias = f.has_tensor("blk.0.ffn_gate.bias");
  if (c.qkv_bias && !c.o_bias && !c.mlp_bias) c.model_type = "qwen2";
  c.tie_word_embeddings = !f.has_tensor("output.weight");
  c.bos_token_id = int_key_or(f, "tokenizer.ggml.bos_token_id", 0);
  c.eos_token_id = int_key_or(f, "tokenizer.ggml.eos_token_id", 0);
  // tokenizer.ggml.eot_token_id is not made an extra eos id: masque's
  // generation stops at the end-of-turn token by name (<|end|>).
  try {
    c.validate();
  } catch (const InputError& e) {
    throw FormatError(cat(where, ": ", e.what()));
  }
  return c;
}

// tokenizer.ggml.* -> the equivalent tokenizer.json text.
std::string tokenizer_json_from(const GgufFile& f) {
  const std::string where = f.path().string();
  const std::string& model = f.get("tokenizer.ggml.model").as_string("tokenizer.ggml.model");
  if (model != "gpt2") {
    throw FormatError(cat(where, ": tokenizer.ggml.model is \"", model,
                          "\"; masque reads byte-level BPE (gpt2) tokenizers only"));
  }
  const std::string pre = f.find("tokenizer.ggml.pre")
                              ? f.get("tokenizer.ggml.pre").as_string("tokenizer.ggml.pre")
                              : "default";
  Json pre_tokenizer;
  bool ignore_merges = false;
  if (pre == "dbrx" || pre == "smaug-bpe" || pre == "llama-bpe" || pre == "llama3" ||
      pre == "llama-v3") {
    ignore_merges = pre != "dbrx" && pre != "smaug-bpe";
    pre_tokenizer = {
        {"type", "Sequence"},
        {"pretokenizers", Json::array({{{"type", "Split"},
                                        {"pattern", {{"Regex", std::string(kCl100kRegex)}}},
                                        {"behavior", "Isolated"},
                                        {"invert", false}},
                                       {{"type", "ByteLevel"},
                                        {"add_prefix_space", false},
                                        {"trim_offsets", true},
                                        {"use_regex", false}}})}};
  } else if (pre == "gpt-2") {
    pre_tokenizer = {{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", true},
                     {"use_regex", true}};
  } else {
    throw FormatError(
        cat(where, ": tokenizer.ggml.pre \"", pre,
            "\" is not supported (masque reads dbrx, smaug-bpe, llama-bpe and gpt-2)"));
  }
  const auto& tokens = f.get("tokenizer.ggml.tokens").as_strings("tokenizer.ggml.tokens");
  std::vector<std::int64_t> types(tokens.size(), 1);
  if (f.find("tokenizer.ggml.token_type")) {
    types = f.get("tokenizer.ggml.token_type").as_i64s("tokenizer.ggml.token_type");
    if (types.size() != tokens.size()) {
      throw FormatError(cat(where, ": tokenizer.ggml.token_type has ", types.size(),
                            " entries for ", tokens.size(), " tokens"));
    }
  }
  // Trailing unused placeholders (a padded model vocab) are not tokens.
  std::size_t n = tokens.size();
  while (n > 0 && types[n - 1] == 5) --n;
  Json vocab = Json::object();
  Json added = Json::array();
  for (std::size_t id = 0; id < n; ++id) {
    require_utf8(tokens[id], where, "tokenizer.ggml.tokens", id);
    if (vocab.contains(tokens[id])) {
      throw FormatError(
          cat(where, ": tokenizer.ggml.tokens[", id, "] \"", tokens[id], "\" appears twice"));
    }
    vocab[tokens[id]] = id;
    if (types[id] == 3 || types[id] == 4) {
      added.push_back({{"id", id},
                       {"content", tokens[id]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", types[id] == 3}});
    }
  }
  Json merges = Json::array();
  if (f.find("tokenizer.ggml.merges")) {
    const auto& strings = f.get("tokenizer.ggml.merges").as_strings("tokenizer.ggml.merges");
    for (std::size_t i = 0; i < strings.size(); ++i) {
      require_utf8(strings[i], where, "tokenizer.ggml.merges", i);
      merges.push_back(strings[i]);
    }
  }
  // add_bos_token / add_eos_token are HF's TemplateProcessing "<bos> $A <eos>".
  Json post_processor = nullptr;
  Json single = Json::array();
  Json specials = Json::object();
  const auto add_special = [&](const char* flag, const char* id_key, bool before) {
    if (!f.find(flag) || !f.get(flag).as_bool(flag)) return;
    const std::uint64_t id = f.get(id_key).as_u64(id_key);
    if (id >= n) throw FormatError(cat(where, ": ", id_key, " ", id, " is not a token"));
    const Json piece = {{"SpecialToken", {{"id", tokens[id]}, {"type_id", 0}}}};
    if (before) {
      single.insert(single.begin(), piece);
    } else {
      single.push_back(piece);
    }
    specials[tokens[id]] = {
        {"id", tokens[id]}, {"ids", Json::array({id})}, {"tokens", Json::array({tokens[id]})}};
  };
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  add_special("tokenizer.ggml.add_bos_token", "tokenizer.ggml.bos_token_id", true);
  add_special("tokenizer.ggml.add_eos_token", "tokenizer.ggml.eos_token_id", false);
  if (single.size() > 1) {
    post_processor = {
        {"type", "TemplateProcessing"}, {"single", single}, {"special_tokens", specials}};
  }
  Json root = {{"version", "1.0"},
               {"truncation", nullptr},
               {"padding", nullptr},
               {"added_tokens", added},
               {"normalizer", nullptr},
               {"pre_tokenizer", pre_tokenizer},
               {"post_processor", post_processor},
               {"decoder",
                {{"type", "ByteLevel"},
                 {"add_prefix_space", true},
                 {"trim_offsets", true},
                 {"use_regex", true}}},
               {"model",
                {{"type", "BPE"},
                 {"dropout", nullptr},
                 {"unk_token", nullptr},
                 {"continuing_subword_prefix", nullptr},
                 {"end_of_word_suffix", nullptr},
                 {"fuse_unk", false},
                 {"byte_fallback", false},
                 {"ignore_merges", ignore_merges},
                 {"vocab", vocab},
                 {"merges", merges}}}};
  return root.dump();
}

}  // namespace

bool is_gguf_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return false;
  char magic[4] = {};
  const std::size_t got = std::fread(magic, 1, 4, file);
  std::fclose(file);
  return got == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

LoadedModel load_gguf_model(const fs::path& path) {
  const GgufFile f(path);
  const std::string where = path.string();
  LoadedModel loaded;
  loaded.tokenizer = Tokenizer::from_json_text(tokenizer_json_from(f), where);
  const GgufTensorInfo& embed = f.tensor("token_embd.weight");
  if (embed.dims.size() != 2) throw FormatError(cat(where, ": token_embd.weight is not 2-D"));
  const ModelConfig cfg = config_from(f, static_cast<int>(embed.dims[1]));
  if (loaded.tokenizer.vocab_size() > static_cast<std::uint32_t>(cfg.vocab_size)) {
    throw FormatError(cat(where, ": ", loaded.tokenizer.vocab_size(), " tokens but token_embd has ",
                          cfg.vocab_size, " rows"));
  }
  // Hyperparameters must describe the tensors the file holds before the
  // model is allocated: a hostile header cannot ask for a huge allocation.
  std::uint64_t file_numel = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name != "rope_freqs.weight") file_numel += t.numel();  // not a parameter
  }
  const double d = cfg.hidden_size, layers = cfg.num_hidden_layers;
  const double heads = static_cast<double>(cfg.num_attention_heads + 2 * cfg.num_key_value_heads);
  const double estimate = layers * (d * heads * cfg.head_dim + 3.0 * d * cfg.intermediate_size +
                                    d * cfg.num_attention_heads * cfg.head_dim) +
                          2.0 * cfg.vocab_size * d;
  if (estimate > 4e18) {  // num_parameters() would overflow int64
    throw FormatError(
        cat(where, ": the llama.* hyperparameters describe an impossibly large model"));
  }
  if (static_cast<std::uint64_t>(cfg.num_parameters()) != file_numel) {
    throw FormatError(cat(where, ": the llama.* hyperparameters describe ", cfg.num_parameters(),
                          " parameters but the tensors hold ", file_numel,
                          " (inconsistent or foreign file)"));
  }
  loaded.model = std::make_unique<Model>(cfg);
  Model& model = *loaded.model;

  // Q8_0 matrices also stay Q8_0 for decoding (model/model_q8.h): the
  // file's own blocks, rows in HF order, so decoding reads 3.6x fewer bytes.
  std::map<std::string, Q8Matrix> q8;
  std::size_t used = 0;
  const auto load = [&](const std::string& hf, const std::string& gguf, int permute_heads) {
    const ParamView& view = model.param(hf);
    const GgufTensorInfo& info = f.tensor(gguf);
    // GGUF dims are innermost first: HF [out, in] is {in, out}.
    std::vector<std::uint64_t> expected;
    for (auto it = view.shape.rbegin(); it != view.shape.rend(); ++it) {
      expected.push_back(static_cast<std::uint64_t>(*it));
    }
    if (info.dims != expected) {
      std::string got;
      for (std::uint64_t d : info.dims) got += cat(got.empty() ? "" : ", ", d);
      std::string want;
      for (std::uint64_t d : expected) want += cat(want.empty() ? "" : ", ", d);
      throw FormatError(cat(where, ": tensor ", gguf, " has dims {", got, "}, expected {", want,
                            "} from the llama.* hyperparameters"));
    }
    std::vector<float> data = f.tensor_f32(gguf);
    if (permute_heads > 0) {
      std::vector<float> restored(data.size());
      const int rows = static_cast<int>(view.shape[0]);
      const int cols = view.shape.size() == 2 ? static_cast<int>(view.shape[1]) : 1;  // bias: 1
      unpermute_qk_rows(data.data(), restored.data(), permute_heads, rows / permute_heads, cols);
      data.swap(restored);
    }
    model.write_param(view, data.data());
    if (info.type == GgmlType::Q8_0 && view.shape.size() == 2) {
      const int rows = static_cast<int>(view.shape[0]), cols = static_cast<int>(view.shape[1]);
      const std::uint8_t* blocks = f.tensor_data(gguf);
      const std::size_t row_bytes = ggml_row_bytes(GgmlType::Q8_0, cols);
      std::vector<std::uint8_t> hf_rows;
      if (permute_heads > 0) {  // the same row map as the float32 weights, applied to rows
        std::vector<float> index(rows), source(rows);
        for (int r = 0; r < rows; ++r) index[r] = static_cast<float>(r);
        unpermute_qk_rows(index.data(), source.data(), permute_heads, rows / permute_heads, 1);
        hf_rows.resize(row_bytes * rows);
        for (int r = 0; r < rows; ++r) {
          std::memcpy(hf_rows.data() + row_bytes * r,
                      blocks + row_bytes * static_cast<std::size_t>(source[r]), row_bytes);
        }
        blocks = hf_rows.data();
      }
      q8.emplace(hf, cpu::q8_from_ggml_blocks(blocks, rows, cols));
    }
    ++used;
  };
  load("model.embed_tokens.weight", "token_embd.weight", 0);
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string hf = cat("model.layers.", l, ".");
    const std::string gg = cat("blk.", l, ".");
    load(hf + "input_layernorm.weight", gg + "attn_norm.weight", 0);
    load(hf + "self_attn.q_proj.weight", gg + "attn_q.weight", cfg.num_attention_heads);
    load(hf + "self_attn.k_proj.weight", gg + "attn_k.weight", cfg.num_key_value_heads);
    load(hf + "self_attn.v_proj.weight", gg + "attn_v.weight", 0);
    if (cfg.qkv_bias) {
      load(hf + "self_attn.q_proj.bias", gg + "attn_q.bias", cfg.num_attention_heads);
      load(hf + "self_attn.k_proj.bias", gg + "attn_k.bias", cfg.num_key_value_heads);
      load(hf + "self_attn.v_proj.bias", gg + "attn_v.bias", 0);
    }
    load(hf + "self_attn.o_proj.weight", gg + "attn_output.weight", 0);
    if (cfg.o_bias) load(hf + "self_attn.o_proj.bias", gg + "attn_output.bias", 0);
    load(hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", 0);
    load(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", 0);
    load(hf + "mlp.up_proj.weight", gg + "ffn_up.weight", 0);
    load(hf + "mlp.down_proj.weight", gg + "ffn_down.weight", 0);
    if (cfg.mlp_bias) {
      load(hf + "mlp.gate_proj.bias", gg + "ffn_gate.bias", 0);
      load(hf + "mlp.up_proj.bias", gg + "ffn_up.bias", 0);
      load(hf + "mlp.down_proj.bias", gg + "ffn_down.bias", 0);
    }
  }
  if (f.has_tensor("rope_freqs.weight")) {
    const GgufTensorInfo& info = f.tensor("rope_freqs.weight");
    const std::vector<float> want = llama3_rope_factors(cfg);
    const std::vector<float> got = f.tensor_f32("rope_freqs.weight");
    bool same = info.dims == std::vector<std::uint64_t>{want.size()} && got.size() == want.size();
    for (std::size_t i = 0; same && i < want.size(); ++i) {
      same = std::fabs(got[i] - want[i]) <= 1e-6f * std::fabs(want[i]);
    }
    if (!same) {
      throw FormatError(cat(where,
                            ": rope_freqs.weight differs from the Llama 3 factors of the "
                            "masque.rope.scaling.* keys (inconsistent file)"));
    }
    ++used;
  }
  load("model.norm.weight", "output_norm.weight", 0);
  if (!cfg.tie_word_embeddings) load("lm_head.weight", "output.weight", 0);
  if (used != f.tensors().size()) {
    // llama.cpp refuses extra tensors too ("wrong number of tensors").
    for (const GgufTensorInfo& t : f.tensors()) {
      const bool known = t.name == "token_embd.weight" || t.name == "output_norm.weight" ||
                         t.name == "output.weight" || t.name == "rope_freqs.weight" ||
                         t.name.rfind("blk.", 0) == 0;
      if (!known) throw FormatError(cat(where, ": unexpected tensor ", t.name));
    }
    throw FormatError(cat(where, ": ", f.tensors().size(), " tensors, expected ", used,
                          " for a llama model with these hyperparameters"));
  }
  set_q8_weights(model, std::move(q8));
  loaded.dir = path;
  return loaded;
}

}  // namespace masque
