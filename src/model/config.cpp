// ModelConfig validation with actionable errors, the --depth preset, and
// parameter/FLOP counts. The JSON form (HF config.json) is in hf_config.cpp.
#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace masque {

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
                         "e.g. hidden_size / num_attention_heads = ",
                         hidden_size / num_attention_heads, " when that is even"));
  }
  if (rope_type == "linear" || rope_type == "llama3") {
    if (!(rope_factor >= 1.0) || !std::isfinite(rope_factor)) {
      throw InputError(cat("RoPE scaling factor must be a number >= 1, got ", rope_factor));
    }
    if (rope_type == "llama3" &&
        (rope_original_max_position_embeddings <= 0 || !(rope_low_freq_factor > 0.0) ||
         !(rope_high_freq_factor > rope_low_freq_factor))) {
      throw InputError(
          cat("llama3 RoPE scaling needs original_max_position_embeddings > 0 and "
              "0 < low_freq_factor < high_freq_factor, got ",
              rope_original_max_position_embeddings, ", ", rope_low_freq_factor, ", ",
              rope_high_freq_factor));
    }
  } else if (rope_type != "default") {
    throw InputError(cat("RoPE type '", rope_type,
                         "' is not supported: masque supports default, linear and llama3"));
  }
  if (model_type != "llama" && model_type != "qwen2") {
    throw InputError(cat("model_type '", model_type, "' is not supported: use llama or qwen2"));
  }
  if (model_type == "qwen2" && (!qkv_bias || o_bias || mlp_bias)) {
    throw InputError("a qwen2 model has q/k/v biases and no others (use model_type llama)");
  }
  if (model_type == "llama" && qkv_bias != o_bias) {
    throw InputError(
        "a llama model's attention_bias covers q, k, v and o together (q/k/v biases alone are "
        "Qwen2's: use model_type qwen2)");
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
  for (const int id : eos_token_ids()) {
    if (id < 0 || id >= vocab_size) {
      throw InputError(cat("eos_token_id ", id, " is outside the vocabulary [0, ", vocab_size,
                           "): use the tokenizer's <|eos|> id"));
    }
  }
}

std::vector<int> ModelConfig::eos_token_ids() const {
  std::vector<int> ids{eos_token_id};
  for (const int id : extra_eos_token_ids) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
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
  const std::int64_t biases = (qkv_bias ? q_dim + 2 * kv_dim : 0) + (o_bias ? d : 0) +
                              (mlp_bias ? 2 * intermediate_size + d : 0);
  const std::int64_t per_layer =
      d * q_dim + 2 * d * kv_dim + q_dim * d + 3 * d * intermediate_size + 2 * d + biases;
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
