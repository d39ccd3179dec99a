// ModelConfig <-> Hugging Face LlamaConfig JSON, validation with actionable
// errors, the --depth preset, and parameter/FLOP counts.
#include "model/config.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace masque {

namespace {

void require_equal(const Json& json, std::string_view where, const char* key, const Json& expected,
                   const char* fix) {
  if (!json.contains(key) || json.at(key).is_null()) return;
  if (json.at(key) != expected) {
    throw InputError(cat(where, ": field '", key, "' is ", json.at(key).dump(),
                         " but masque supports only ", expected.dump(), ": ", fix));
  }
}

}  // namespace

ModelConfig ModelConfig::from_json(const Json& json, std::string_view where) {
  if (!json.is_object()) {
    throw InputError(cat(where, ": expected a JSON object (a Hugging Face LlamaConfig), got ",
                         json_type_name(json)));
  }
  require_equal(json, where, "model_type", "llama",
                "convert the model to a LlamaForCausalLM config");
  require_equal(json, where, "hidden_act", "silu", "use a SwiGLU (silu) Llama model");
  require_equal(json, where, "attention_bias", false, "set it to false (bias-free projections)");
  require_equal(json, where, "mlp_bias", false, "set it to false (bias-free MLP)");
  if (json.contains("rope_scaling") && !json.at("rope_scaling").is_null()) {
    throw InputError(cat(where, ": field 'rope_scaling' is ", json.at("rope_scaling").dump(),
                         " but masque implements plain RoPE only: set it to null"));
  }
  ModelConfig c;
  c.vocab_size = get_field<int>(json, "vocab_size", where);
  c.hidden_size = get_field<int>(json, "hidden_size", where);
  c.intermediate_size = get_field<int>(json, "intermediate_size", where);
  c.num_hidden_layers = get_field<int>(json, "num_hidden_layers", where);
  c.num_attention_heads = get_field<int>(json, "num_attention_heads", where);
  c.num_key_value_heads =
      get_field_or<int>(json, "num_key_value_heads", where, c.num_attention_heads);
  // Absent fields take LlamaConfig's defaults, so HF files read as HF reads them.
  c.max_position_embeddings = get_field_or<int>(json, "max_position_embeddings", where, 2048);
  c.rms_norm_eps = get_field_or<float>(json, "rms_norm_eps", where, 1e-6f);
  c.rope_theta = get_field_or<float>(json, "rope_theta", where, 10000.0f);
  c.tie_word_embeddings = get_field_or<bool>(json, "tie_word_embeddings", where, false);
  c.bos_token_id = get_field_or<int>(json, "bos_token_id", where, 1);
  c.eos_token_id = get_field_or<int>(json, "eos_token_id", where, 2);
  const int default_head_dim =
      (c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0)
          ? c.hidden_size / c.num_attention_heads
          : 0;
  c.head_dim = get_field_or<int>(json, "head_dim", where, default_head_dim);
  try {
    c.validate();
  } catch (const InputError& e) {
    throw InputError(cat(where, ": ", e.what()));
  }
  return c;
}

Json ModelConfig::to_json() const {
  Json j;
  j["architectures"] = Json::array({"LlamaForCausalLM"});
  j["model_type"] = "llama";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["rope_scaling"] = nullptr;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["mlp_bias"] = false;
  j["initializer_range"] = 0.02;
  j["pretraining_tp"] = 1;
  j["use_cache"] = true;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  j["torch_dtype"] = "float32";
  return j;
}

void ModelConfig::validate() const {
  auto positive = [](const char* field, long long value) {
    if (value <= 0) throw InputError(cat(field, " must be positive, got ", value));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("max_position_embeddings", max_position_embeddings);
  if (hidden_size % num_attention_heads != 0) {
    const int lower = hidden_size / num_attention_heads * num_attention_heads;
    throw InputError(cat("hidden_size ", hidden_size, " is not divisible by num_attention_heads ",
                         num_attention_heads, ": choose a hidden_size that is a multiple of ",
                         num_attention_heads, " (e.g. ", lower > 0 ? lower : num_attention_heads,
                         " or ", lower + num_attention_heads, ") or a head count that divides ",
                         hidden_size));
  }
  if (num_key_value_heads <= 0 || num_key_value_heads > num_attention_heads ||
      num_attention_heads % num_key_value_heads != 0) {
    throw InputError(
        cat("num_key_value_heads ", num_key_value_heads, " must divide num_attention_heads ",
            num_attention_heads,
            " (grouped-query attention shares each KV head among a whole group of query "
            "heads): choose a divisor of ",
            num_attention_heads, " such as ", num_attention_heads, " or 1"));
  }
  if (head_dim <= 0 || head_dim % 2 != 0) {
    throw InputError(cat("head_dim ", head_dim,
                         " must be a positive even number (RoPE rotates pairs of dimensions): use "
                         "hidden_size / num_attention_heads = ",
                         hidden_size / num_attention_heads, " with an even quotient"));
  }
  if (!(rms_norm_eps > 0.0f) || !std::isfinite(rms_norm_eps)) {
    throw InputError(
        cat("rms_norm_eps must be a positive number, got ", rms_norm_eps, ": use e.g. 1e-5"));
  }
  if (!(rope_theta > 0.0f) || !std::isfinite(rope_theta)) {
    throw InputError(
        cat("rope_theta must be a positive number, got ", rope_theta, ": use e.g. 10000"));
  }
  if (bos_token_id < 0 || bos_token_id >= vocab_size) {
    throw InputError(cat("bos_token_id ", bos_token_id, " is outside the vocabulary [0, ",
                         vocab_size, "): use the tokenizer's <|bos|> id"));
  }
  if (eos_token_id < 0 || eos_token_id >= vocab_size) {
    throw InputError(cat("eos_token_id ", eos_token_id, " is outside the vocabulary [0, ",
                         vocab_size, "): use the tokenizer's <|eos|> id"));
  }
}

ModelConfig ModelConfig::from_depth(int depth, int vocab_size, int max_seq_len) {
  if (depth < 1 || depth > 64) {
    throw InputError(cat("depth ", depth, " is out of range: choose a depth between 1 and 64"));
  }
  if (vocab_size <= 0) throw InputError(cat("vocab_size must be positive, got ", vocab_size));
  if (max_seq_len <= 0)
    throw InputError(cat("max sequence length must be positive, got ", max_seq_len));
  ModelConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 64 * depth;
  c.head_dim = depth < 4 ? 32 : 64;
  c.num_attention_heads = c.hidden_size / c.head_dim;
  c.num_key_value_heads = c.num_attention_heads;
  c.num_hidden_layers = depth;
  // SwiGLU has three matrices, so 8/3*d keeps the MLP at the FLOPs of a 4*d GELU MLP.
  c.intermediate_size = static_cast<int>(std::lround(8.0 * c.hidden_size / 3.0 / 32.0)) * 32;
  c.max_position_embeddings = max_seq_len;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.tie_word_embeddings = true;
  c.bos_token_id = 0;
  c.eos_token_id = 0;
  c.validate();
  return c;
}

float ModelConfig::learning_rate_for_depth(int depth) {
  if (depth < 1) throw InputError(cat("depth ", depth, " is out of range: choose a depth >= 1"));
  return 3e-3f * std::sqrt(256.0f / (64.0f * static_cast<float>(depth)));
}

std::int64_t ModelConfig::num_parameters() const {
  const std::int64_t d = hidden_size;
  const std::int64_t q_dim = static_cast<std::int64_t>(num_attention_heads) * head_dim;
  const std::int64_t kv_dim = static_cast<std::int64_t>(num_key_value_heads) * head_dim;
  const std::int64_t per_layer =
      d * q_dim + 2 * d * kv_dim + q_dim * d + 3 * d * intermediate_size + 2 * d;
  const std::int64_t embed = static_cast<std::int64_t>(vocab_size) * d;
  return embed + num_hidden_layers * per_layer + d + (tie_word_embeddings ? 0 : embed);
}

double ModelConfig::train_flops_per_token(int seq_len) const {
  // 6 FLOPs per multiply-accumulate weight (forward 2, backward 4) for every
  // matrix a token passes through: the layers' linears and the LM head (the
  // embedding lookup is free). Attention scores and values add
  // 2 matmuls * 2 * head_dim * H per visible key, forward; with causal masking
  // a token sees (seq_len + 1) / 2 keys on average; times 3 for the backward.
  const double d = hidden_size;
  const double q_dim = static_cast<double>(num_attention_heads) * head_dim;
  const double kv_dim = static_cast<double>(num_key_value_heads) * head_dim;
  const double layer_weights = d * q_dim + 2 * d * kv_dim + q_dim * d + 3 * d * intermediate_size;
  const double matmul_weights =
      num_hidden_layers * layer_weights + static_cast<double>(vocab_size) * d;
  const double attention = num_hidden_layers * 3.0 * (2.0 * 2.0 * q_dim * (seq_len + 1) / 2.0);
  return 6.0 * matmul_weights + attention;
}

}  // namespace masque
