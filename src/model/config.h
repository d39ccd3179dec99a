// ModelConfig: the LLaMA-style decoder's hyper-parameters. The JSON form is
// Hugging Face's LlamaConfig (config.json of a LlamaForCausalLM directory,
// every field written: transformers' defaults are a 7B model's).
#pragma once
#include <cstdint>
#include <string_view>

#include "core/json_util.h"

namespace masque {

struct ModelConfig {
  int vocab_size = 0;
  int hidden_size = 0;          // d
  int intermediate_size = 0;    // SwiGLU width
  int num_hidden_layers = 0;    // L
  int num_attention_heads = 0;  // H
  int num_key_value_heads = 0;  // H_kv, divides H (grouped-query attention)
  int head_dim = 0;             // usually d / H
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tie_word_embeddings = true;
  int bos_token_id = 0;
  int eos_token_id = 0;

  // Parse HF config.json (fields as in LlamaConfig; head_dim defaults to d/H,
  // num_key_value_heads to H). `where` names the source in errors. Validates.
  static ModelConfig from_json(const Json& json, std::string_view where);
  // Full HF config.json: architectures, model_type "llama", hidden_act "silu",
  // rope_scaling null, attention_bias/mlp_bias false, torch_dtype "float32", ...
  Json to_json() const;
  // Throws InputError naming the field and the fix (d % H, H % H_kv, ranges).
  void validate() const;
  // Small-model preset in the spirit of nanochat's --depth: width 64*depth,
  // head_dim 64 (32 for depth < 4), SwiGLU width ~8/3*d rounded to 32.
  static ModelConfig from_depth(int depth, int vocab_size, int max_seq_len);

  // AdamW peak learning rate for the from_depth preset: 3e-3 at width 256,
  // scaled by 1/sqrt(width) (the usual muP-style width scaling for Adam).
  static float learning_rate_for_depth(int depth);

  std::int64_t num_parameters() const;
  // Approximate training FLOPs per token (6N + attention), for MFU/FLOP/s reports.
  double train_flops_per_token(int seq_len) const;

  bool operator==(const ModelConfig&) const = default;
};

}  // namespace masque
