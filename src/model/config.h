// ModelConfig: the LLaMA-style decoder's hyper-parameters. The JSON form is
// Hugging Face's LlamaConfig or Qwen2Config (config.json of a
// LlamaForCausalLM / Qwen2ForCausalLM directory, every field written:
// transformers' defaults are a 7B model's). Reading is strict
// (hf_config.cpp): a field masque cannot honour is refused, never ignored.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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
  // RoPE frequency scaling (HF rope_scaling / rope_parameters): "default"
  // (none), "linear" (inv_freq / factor) or "llama3" (Llama 3.1's smooth
  // wavelength-dependent scaling; the other three fields).
  std::string rope_type = "default";
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int rope_original_max_position_embeddings = 0;
  // "llama" or "qwen2" (Qwen2 = Llama with q/k/v biases). Biases: q|k|v
  // (Llama attention_bias, always for Qwen2), o_proj (Llama attention_bias),
  // gate|up|down (Llama mlp_bias).
  std::string model_type = "llama";
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  bool tie_word_embeddings = true;
  int bos_token_id = 0;
  int eos_token_id = 0;
  // Every end-of-sequence id when config.json lists several (Llama 3's
  // [eos, eom, eot]); eos_token_id is the first. Empty = just eos_token_id.
  std::vector<int> extra_eos_token_ids;

  // Parse HF config.json, transformers 4 or 5 layout (rope_theta +
  // rope_scaling, or rope_parameters); head_dim defaults to d/H,
  // num_key_value_heads to H. Every field is either honoured, metadata that
  // does not change the math, or refused with an InputError naming it.
  // `where` names the source in errors. Validates.
  static ModelConfig from_json(const Json& json, std::string_view where);
  // Full HF config.json in the transformers 4 layout, which transformers 5
  // also reads: architectures, model_type, hidden_act "silu", rope_theta,
  // rope_scaling, biases, torch_dtype "float32", ...
  Json to_json() const;
  // Throws InputError naming the field and the fix (H % H_kv, ranges).
  void validate() const;
  bool has_biases() const { return qkv_bias || o_bias || mlp_bias; }
  // Every stop id of the model: eos_token_id then extra_eos_token_ids.
  std::vector<int> eos_token_ids() const;
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
