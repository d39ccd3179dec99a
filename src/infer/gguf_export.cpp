// masque model -> llama.cpp GGUF (docs/gguf.md). The metadata mirrors what
// llama.cpp's own converter writes for a Llama with a byte-level BPE
// tokenizer; the tokenizer is taken from its tokenizer.json form, where the
// vocabulary is already in GPT-2's byte-to-unicode spelling that GGUF uses.
#include <algorithm>
#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"
#include "infer/gguf_model.h"
#include "model/rope_frequencies.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/pretokenizer.h"

namespace masque {
namespace fs = std::filesystem;

namespace {

// llama.cpp's token types (llama_token_type): NORMAL 1, CONTROL 3, UNUSED 5.
constexpr std::int32_t kTokenNormal = 1;
constexpr std::int32_t kTokenControl = 3;
constexpr std::int32_t kTokenUnused = 5;

// llama.cpp's general.file_type values (llama_ftype).
std::uint32_t file_type_of(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return 0;
    case GgmlType::F16:
      return 1;
    case GgmlType::Q8_0:
      return 7;
    case GgmlType::BF16:
      return 32;
  }
  return 0;
}

struct TokenizerMeta {
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  std::vector<std::string> merges;
  std::string pre;
};

// The split regex decides tokenizer.ggml.pre. llama.cpp knows the cl100k
// regex under several names; "dbrx" (and "smaug-bpe") use it with merges
// applied as usual, which is what masque's tokenizers do. "llama-bpe" uses
// the same regex but skips merges for a piece that is a whole token
// (ignore_merges), so it is chosen only for tokenizers that say so.
std::string pre_tokenizer_name(const Json& root) {
  const Json& pre = root.at("pre_tokenizer");
  const bool ignore_merges = root.at("model").value("ignore_merges", false);
  const std::string type = pre.value("type", "");
  if (type == "ByteLevel") {
    if (ignore_merges) {
      throw InputError("a GPT-2-split tokenizer with ignore_merges has no llama.cpp pre-tokenizer");
    }
    return "gpt-2";
  }
  if (type == "Sequence" && pre.at("pretokenizers").size() == 2) {
    const Json& split = pre.at("pretokenizers")[0];
    const Json* regex = split.contains("pattern") && split.at("pattern").contains("Regex")
                            ? &split.at("pattern").at("Regex")
                            : nullptr;
    if (regex && regex->is_string() && regex->get<std::string>() == kCl100kRegex) {
      return ignore_merges ? "llama-bpe" : "dbrx";
    }
  }
  throw InputError(
      cat("tokenizer pre_tokenizer ", pre.dump(),
          " has no llama.cpp equivalent (masque exports the cl100k and GPT-2 splits)"));
}

TokenizerMeta tokenizer_meta(const Tokenizer& tokenizer, int model_vocab) {
  const Json root = parse_json(tokenizer.to_json_text(), "tokenizer");
  const Json& model = root.at("model");
  if (model.value("type", "") != "BPE") throw InputError("GGUF export needs a BPE tokenizer");
  TokenizerMeta meta;
  meta.pre = pre_tokenizer_name(root);
  const std::uint32_t n = tokenizer.vocab_size();
  if (n > static_cast<std::uint32_t>(model_vocab)) {
    throw InputError(cat("tokenizer has ", n, " tokens but the model only ", model_vocab));
  }
  // Ids beyond the tokenizer (a model vocab padded for speed) become unused
  // placeholders, as llama.cpp's converter writes them.
  meta.tokens.resize(model_vocab);
  meta.types.assign(model_vocab, kTokenUnused);
  std::vector<bool> seen(model_vocab, false);
  for (const auto& [text, id_json] : model.at("vocab").items()) {
    const auto id = id_json.get<std::int64_t>();
    if (id < 0 || id >= model_vocab) throw InputError(cat("token id ", id, " out of range"));
    meta.tokens[id] = text;
    meta.types[id] = kTokenNormal;
    seen[id] = true;
  }
  for (const Json& added : root.value("added_tokens", Json::array())) {
    const auto id = added.at("id").get<std::int64_t>();
    if (id < 0 || id >= model_vocab) throw InputError(cat("added token id ", id, " out of range"));
    meta.tokens[id] = added.at("content").get<std::string>();
    // Special tokens are control tokens: llama.cpp never produces them from
    // plain text and renders them only when asked (like masque's encode()).
    meta.types[id] = added.value("special", false) ? kTokenControl : kTokenNormal;
    seen[id] = true;
  }
  for (int id = 0; id < model_vocab; ++id) {
    if (!seen[id]) meta.tokens[id] = cat("[PAD", id, "]");
  }
  for (const Json& merge : model.at("merges")) {
    if (merge.is_string()) {
      meta.merges.push_back(merge.get<std::string>());
    } else {
      meta.merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    }
  }
  return meta;
}

// The HF directory's own chat template when it has one, else masque's when
// the tokenizer has masque's chat tokens, else none.
std::string chat_template_for(const LoadedModel& loaded) {
  if (is_gguf_file(loaded.dir)) {  // re-export of a GGUF file keeps its template
    const GgufFile source(loaded.dir);
    const GgufValue* value = source.find("tokenizer.chat_template");
    return value ? value->as_string("tokenizer.chat_template") : "";
  }
  const fs::path config = loaded.dir / "tokenizer_config.json";
  std::error_code ec;
  if (fs::is_regular_file(config, ec)) {
    const Json json = read_json_file(config);
    if (json.contains("chat_template") && json.at("chat_template").is_string()) {
      return json.at("chat_template").get<std::string>();
    }
  }
  if (fs::is_regular_file(loaded.dir / "chat_template.jinja", ec)) {
    return read_file(loaded.dir / "chat_template.jinja");
  }
  if (supports_chat_format(loaded.tokenizer)) return chat_template_jinja();
  return "";
}

// What the tokenizer's post-processor puts around a prompt (HF's
// add_special_tokens; masque's tokenizers: a leading <|bos|>), as llama.cpp's
// two flags. Any other template has no GGUF form and is refused.
std::pair<bool, bool> special_tokens_added(const Tokenizer& tokenizer, const ModelConfig& cfg) {
  const std::string probe = "x";
  const std::vector<std::uint32_t> plain = tokenizer.encode_with_specials(probe);
  const std::vector<std::uint32_t> full = tokenizer.encode_for_model(probe);
  const auto at = std::search(full.begin(), full.end(), plain.begin(), plain.end());
  if (at == full.end()) throw InputError("the tokenizer's post-processor changes the text's ids");
  const std::vector<std::uint32_t> prefix(full.begin(), at);
  const std::vector<std::uint32_t> suffix(at + static_cast<std::ptrdiff_t>(plain.size()),
                                          full.end());
  const auto is = [](const std::vector<std::uint32_t>& ids, int id) {
    return ids.size() == 1 && ids[0] == static_cast<std::uint32_t>(id);
  };
  if ((!prefix.empty() && !is(prefix, cfg.bos_token_id)) ||
      (!suffix.empty() && !is(suffix, cfg.eos_token_id))) {
    throw InputError(
        "the tokenizer's post-processor adds tokens other than a leading bos_token_id and a "
        "trailing eos_token_id; GGUF (tokenizer.ggml.add_bos_token/add_eos_token) cannot say that");
  }
  return {!prefix.empty(), !suffix.empty()};
}

// Qwen2 (llama + q/k/v biases) and Llama biases are written as llama.cpp's
// llama architecture with its optional bias tensors (attn_q/k/v/output.bias,
// ffn_gate/up/down.bias): the same math, and the file loads in llama.cpp
// builds that predate a Qwen2 loader. Llama 3 RoPE scaling is llama.cpp's
// rope_freqs tensor (below).
void check_representable(const ModelConfig& cfg) {
  if (cfg.model_type != "llama" && cfg.model_type != "qwen2") {
    throw InputError(cat("model_type ", cfg.model_type,
                         " cannot be exported: masque writes llama.cpp's llama architecture"));
  }
  if (cfg.rope_type != "default" && cfg.rope_type != "linear" && cfg.rope_type != "llama3") {
    throw InputError(
        cat("rope_type ", cfg.rope_type,
            " cannot be exported to GGUF by masque (default, linear and llama3 only)"));
  }
}

}  // namespace

std::vector<float> llama3_rope_factors(const ModelConfig& cfg) {
  // The ratio of masque's own unscaled and scaled frequencies.
  ModelConfig plain = cfg;
  plain.rope_type = "default";
  const std::vector<double> base = rope_inv_freq(plain), scaled = rope_inv_freq(cfg);
  std::vector<float> factors(base.size());
  for (std::size_t i = 0; i < base.size(); ++i) {
    factors[i] = static_cast<float>(base[i] / scaled[i]);
  }
  return factors;
}

void permute_qk_rows(const float* in, float* out, int n_heads, int head_dim, int cols) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    for (int j = 0; j < half; ++j) {
      for (int part = 0; part < 2; ++part) {
        const std::size_t src = static_cast<std::size_t>(h) * head_dim + part * half + j;
        const std::size_t dst = static_cast<std::size_t>(h) * head_dim + 2 * j + part;
        std::memcpy(out + dst * cols, in + src * cols, sizeof(float) * cols);
      }
    }
  }
}

void unpermute_qk_rows(const float* in, float* out, int n_heads, int head_dim, int cols) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    for (int j = 0; j < half; ++j) {
      for (int part = 0; part < 2; ++part) {
        const std::size_t src = static_cast<std::size_t>(h) * head_dim + 2 * j + part;
        const std::size_t dst = static_cast<std::size_t>(h) * head_dim + part * half + j;
        std::memcpy(out + dst * cols, in + src * cols, sizeof(float) * cols);
      }
    }
  }
}

GgufExportSummary export_gguf(const LoadedModel& loaded, const fs::path& out,
                              const GgufExportOptions& options) {
  const Model& model = *loaded.model;
  const ModelConfig& cfg = model.config();
  check_representable(cfg);
  const TokenizerMeta tok = tokenizer_meta(loaded.tokenizer, cfg.vocab_size);
  const std::string chat_template = chat_template_for(loaded);

  GgufWriter w;
  const auto u32 = [](std::int64_t v) { return GgufValue::u32(static_cast<std::uint32_t>(v)); };
  w.set("general.architecture", GgufValue::string("llama"));
  std::string name = options.name;
  if (name.empty() && is_gguf_file(loaded.dir)) {  // a re-export keeps the source's name
    const GgufFile source(loaded.dir);
    if (const GgufValue* v = source.find("general.name")) name = v->as_string("general.name");
  }
  if (name.empty()) name = loaded.dir.filename().string();
  w.set("general.name", GgufValue::string(name.empty() ? "masque" : name));
  w.set("general.file_type", u32(file_type_of(options.type)));
  if (options.type == GgmlType::Q8_0) w.set("general.quantization_version", u32(2));
  w.set("general.alignment", u32(kGgufDefaultAlignment));
  w.set("llama.vocab_size", u32(cfg.vocab_size));
  w.set("llama.context_length", u32(cfg.max_position_embeddings));
  w.set("llama.embedding_length", u32(cfg.hidden_size));
  w.set("llama.block_count", u32(cfg.num_hidden_layers));
  w.set("llama.feed_forward_length", u32(cfg.intermediate_size));
  w.set("llama.attention.head_count", u32(cfg.num_attention_heads));
  w.set("llama.attention.head_count_kv", u32(cfg.num_key_value_heads));
  w.set("llama.attention.key_length", u32(cfg.head_dim));
  w.set("llama.attention.value_length", u32(cfg.head_dim));
  w.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(cfg.rms_norm_eps));
  w.set("llama.rope.dimension_count", u32(cfg.head_dim));
  w.set("llama.rope.freq_base", GgufValue::f32(cfg.rope_theta));
  if (cfg.rope_type == "linear") {
    w.set("llama.rope.scaling.type", GgufValue::string("linear"));
    w.set("llama.rope.scaling.factor", GgufValue::f32(static_cast<float>(cfg.rope_factor)));
  } else if (cfg.rope_type == "llama3") {
    // llama.cpp reads only the rope_freqs tensor; these keys (ignored by
    // llama.cpp; float64 as masque holds them) let masque read the
    // parameters back exactly.
    w.set("masque.rope.scaling.type", GgufValue::string("llama3"));
    w.set("masque.rope.scaling.factor", GgufValue::f64(cfg.rope_factor));
    w.set("masque.rope.scaling.low_freq_factor", GgufValue::f64(cfg.rope_low_freq_factor));
    w.set("masque.rope.scaling.high_freq_factor", GgufValue::f64(cfg.rope_high_freq_factor));
    w.set("masque.rope.scaling.original_context_length",
          u32(cfg.rope_original_max_position_embeddings));
  }

  w.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::string(tok.pre));
  w.set("tokenizer.ggml.tokens", GgufValue::strings(tok.tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::i32s(tok.types));
  w.set("tokenizer.ggml.merges", GgufValue::strings(tok.merges));
  w.set("tokenizer.ggml.bos_token_id", u32(cfg.bos_token_id));
  w.set("tokenizer.ggml.eos_token_id", u32(cfg.eos_token_id));
  // End of a chat turn: llama.cpp stops generation at eot as at eos. An HF
  // config's extra eos ids (Llama 3's eot) serve when there is no <|end|>.
  if (const auto end = loaded.tokenizer.special_id(kEndTurnToken)) {
    w.set("tokenizer.ggml.eot_token_id", u32(*end));
  } else if (!cfg.extra_eos_token_ids.empty()) {
    w.set("tokenizer.ggml.eot_token_id", u32(cfg.extra_eos_token_ids.front()));
  }
  if (const auto pad = loaded.tokenizer.special_id(kPadToken)) {
    w.set("tokenizer.ggml.padding_token_id", u32(*pad));
  }
  const auto [add_bos, add_eos] = special_tokens_added(loaded.tokenizer, cfg);
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(add_bos));
  w.set("tokenizer.ggml.add_eos_token", GgufValue::boolean(add_eos));
  if (!chat_template.empty()) w.set("tokenizer.chat_template", GgufValue::string(chat_template));

  // Weights: HF [out, in] row-major is GGUF dims {in, out} with the same bytes.
  std::size_t tensors = 0;
  const auto matrix = [&](const std::string& hf, const std::string& gguf, int permute_heads) {
    const ParamView& view = model.param(hf);
    std::vector<float> data(view.numel);
    model.read_param(view, data.data());
    const int rows = static_cast<int>(view.shape[0]);
    const int cols = static_cast<int>(view.shape[1]);
    if (permute_heads > 0) {
      std::vector<float> permuted(data.size());
      permute_qk_rows(data.data(), permuted.data(), permute_heads, rows / permute_heads, cols);
      data.swap(permuted);
    }
    w.add_tensor_f32(gguf, options.type,
                     {static_cast<std::uint64_t>(cols), static_cast<std::uint64_t>(rows)},
                     data.data());
    ++tensors;
  };
  // Norms and biases (always F32); a Q or K bias is permuted like its rows.
  const auto vector = [&](const std::string& hf, const std::string& gguf, int permute_heads = 0) {
    const ParamView& view = model.param(hf);
    std::vector<float> data(view.numel);
    model.read_param(view, data.data());
    if (permute_heads > 0) {
      std::vector<float> permuted(data.size());
      const int rows = static_cast<int>(view.numel);
      permute_qk_rows(data.data(), permuted.data(), permute_heads, rows / permute_heads, 1);
      data.swap(permuted);
    }
    w.add_tensor_f32(gguf, GgmlType::F32, {static_cast<std::uint64_t>(view.numel)}, data.data());
    ++tensors;
  };
  if (cfg.rope_type == "llama3") {
    const std::vector<float> factors = llama3_rope_factors(cfg);
    w.add_tensor_f32("rope_freqs.weight", GgmlType::F32, {factors.size()}, factors.data());
    ++tensors;
  }
  matrix("model.embed_tokens.weight", "token_embd.weight", 0);
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string hf = cat("model.layers.", l, ".");
    const std::string gg = cat("blk.", l, ".");
    vector(hf + "input_layernorm.weight", gg + "attn_norm.weight");
    matrix(hf + "self_attn.q_proj.weight", gg + "attn_q.weight", cfg.num_attention_heads);
    matrix(hf + "self_attn.k_proj.weight", gg + "attn_k.weight", cfg.num_key_value_heads);
    matrix(hf + "self_attn.v_proj.weight", gg + "attn_v.weight", 0);
    if (cfg.qkv_bias) {
      vector(hf + "self_attn.q_proj.bias", gg + "attn_q.bias", cfg.num_attention_heads);
      vector(hf + "self_attn.k_proj.bias", gg + "attn_k.bias", cfg.num_key_value_heads);
      vector(hf + "self_attn.v_proj.bias", gg + "attn_v.bias");
    }
    matrix(hf + "self_attn.o_proj.weight", gg + "attn_output.weight", 0);
    if (cfg.o_bias) vector(hf + "self_attn.o_proj.bias", gg + "attn_output.bias");
    vector(hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight");
    matrix(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", 0);
    matrix(hf + "mlp.up_proj.weight", gg + "ffn_up.weight", 0);
    matrix(hf + "mlp.down_proj.weight", gg + "ffn_down.weight", 0);
    if (cfg.mlp_bias) {
      vector(hf + "mlp.gate_proj.bias", gg + "ffn_gate.bias");
      vector(hf + "mlp.up_proj.bias", gg + "ffn_up.bias");
      vector(hf + "mlp.down_proj.bias", gg + "ffn_down.bias");
    }
  }
  vector("model.norm.weight", "output_norm.weight");
  // Tied embeddings: llama.cpp uses token_embd when output.weight is absent.
  if (!cfg.tie_word_embeddings) matrix("lm_head.weight", "output.weight", 0);

  w.write(out);
  GgufExportSummary summary;
  summary.tensors = tensors;
  summary.tokens = tok.tokens.size();
  summary.pre_tokenizer = tok.pre;
  summary.chat_template = !chat_template.empty();
  return summary;
}

}  // namespace masque
