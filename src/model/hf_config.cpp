// ModelConfig <-> Hugging Face config.json (LlamaConfig, Qwen2Config), in
// both transformers layouts: 4 (top-level rope_theta, rope_scaling) and 5
// (rope_parameters {rope_type, rope_theta, ...}).
//
// Reading is a whitelist. Every key of the file falls in one of three sets:
// honoured (it shapes the model and masque reproduces it), metadata (it does
// not change the logits: dtype, use_cache, versions, ...), or checked (only
// the value that leaves the math unchanged is accepted, e.g.
// use_sliding_window false). Anything else is refused with an InputError
// naming the field: a field masque ignored could give silently wrong logits,
// which is what transformers 5's rope_parameters did before this file.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "core/error.h"
#include "model/config.h"

namespace masque {
namespace {

// Keys that never change the computed logits.
const std::set<std::string>& metadata_keys() {
  static const std::set<std::string> keys{"_name_or_path",
                                          "transformers_version",
                                          "torch_dtype",
                                          "dtype",
                                          "use_cache",
                                          "initializer_range",
                                          "pad_token_id",
                                          "output_attentions",
                                          "output_hidden_states",
                                          "return_dict",
                                          "pretraining_tp",
                                          "architectures",
                                          "tokenizer_class",
                                          "_attn_implementation_autoset"};
  return keys;
}

const std::set<std::string>& common_keys() {
  static const std::set<std::string> keys{"model_type",          "vocab_size",
                                          "hidden_size",         "intermediate_size",
                                          "num_hidden_layers",   "num_attention_heads",
                                          "num_key_value_heads", "head_dim",
                                          "hidden_act",          "max_position_embeddings",
                                          "rms_norm_eps",        "rope_theta",
                                          "rope_scaling",        "rope_parameters",
                                          "attention_dropout",   "tie_word_embeddings",
                                          "bos_token_id",        "eos_token_id"};
  return keys;
}

const std::set<std::string>& llama_keys() {
  static const std::set<std::string> keys{"attention_bias", "mlp_bias"};
  return keys;
}

const std::set<std::string>& qwen2_keys() {
  static const std::set<std::string> keys{"use_sliding_window", "sliding_window",
                                          "max_window_layers", "layer_types"};
  return keys;
}

[[noreturn]] void refuse(std::string_view where, std::string_view field, const Json& value,
                         std::string_view why) {
  throw InputError(cat(where, ": field '", field, "' is ", value.dump(), ": ", why));
}

// The RoPE block: transformers 5's rope_parameters, or 4's rope_scaling
// (which carries everything but rope_theta). Keys: rope_type (or the older
// "type"), rope_theta, factor, low_freq_factor, high_freq_factor,
// original_max_position_embeddings; any other key is refused.
void read_rope(const Json& rope, std::string_view where, std::string_view field, ModelConfig& c,
               bool& theta_seen) {
  if (!rope.is_object()) {
    refuse(where, field, rope, "expected an object such as {\"rope_type\": \"default\"}");
  }
  std::string type = "default";
  for (const char* key : {"rope_type", "type"}) {
    if (rope.contains(key)) type = get_field<std::string>(rope, key, cat(where, ": ", field));
  }
  if (type != "default" && type != "linear" && type != "llama3") {
    refuse(where, cat(field, ".rope_type"), Json(type),
           "masque implements RoPE types default, linear and llama3 only (dynamic, yarn, "
           "longrope, ... would give different logits): convert the model or drop the scaling");
  }
  std::set<std::string> allowed{"rope_type", "type", "rope_theta"};
  if (type == "linear") allowed.insert("factor");
  if (type == "llama3") {
    allowed.insert(
        {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
  }
  for (const auto& [key, value] : rope.items()) {
    if (!allowed.count(key)) {
      refuse(where, cat(field, ".", key), value,
             cat("not used by RoPE type '", type,
                 "' as masque implements it; masque refuses rather than ignores it"));
    }
  }
  const std::string sub = cat(where, ": ", field);
  c.rope_type = type;
  if (rope.contains("rope_theta")) {
    const double theta = get_field<double>(rope, "rope_theta", sub);
    if (theta_seen && static_cast<float>(theta) != c.rope_theta) {
      refuse(
          where, cat(field, ".rope_theta"), rope.at("rope_theta"),
          cat("it disagrees with the top-level rope_theta ", c.rope_theta, ": keep one of them"));
    }
    c.rope_theta = static_cast<float>(theta);
    theta_seen = true;
  }
  if (type == "default") return;
  c.rope_factor = get_field<double>(rope, "factor", sub);
  if (type == "llama3") {
    c.rope_low_freq_factor = get_field<double>(rope, "low_freq_factor", sub);
    c.rope_high_freq_factor = get_field<double>(rope, "high_freq_factor", sub);
    c.rope_original_max_position_embeddings =
        get_field<int>(rope, "original_max_position_embeddings", sub);
  }
}

void read_qwen2_window(const Json& json, std::string_view where, int layers) {
  if (json.contains("use_sliding_window") && !json.at("use_sliding_window").is_null() &&
      get_field<bool>(json, "use_sliding_window", where)) {
    refuse(where, "use_sliding_window", json.at("use_sliding_window"),
           "masque implements full causal attention only: set it to false");
  }
  // sliding_window and max_window_layers only matter with use_sliding_window.
  if (json.contains("layer_types") && !json.at("layer_types").is_null()) {
    const Json& types = json.at("layer_types");
    if (!types.is_array() || types.size() != static_cast<std::size_t>(layers) ||
        !std::all_of(types.begin(), types.end(),
                     [](const Json& t) { return t == "full_attention"; })) {
      refuse(where, "layer_types", types,
             cat("masque implements full attention in every layer: expected ", layers,
                 " entries of \"full_attention\""));
    }
  }
}

}  // namespace

ModelConfig ModelConfig::from_json(const Json& json, std::string_view where) {
  if (!json.is_object()) {
    throw InputError(cat(where, ": expected a JSON object (a Hugging Face LlamaConfig), got ",
                         json_type_name(json)));
  }
  ModelConfig c;
  c.model_type = get_field_or<std::string>(json, "model_type", where, "llama");
  if (c.model_type != "llama" && c.model_type != "qwen2") {
    refuse(where, "model_type", json.at("model_type"),
           "masque supports llama and qwen2 (Llama with q/k/v biases): convert the model");
  }
  const bool qwen2 = c.model_type == "qwen2";
  for (const auto& [key, value] : json.items()) {
    if (metadata_keys().count(key) || common_keys().count(key)) continue;
    if ((qwen2 ? qwen2_keys() : llama_keys()).count(key)) continue;
    refuse(where, key, value,
           cat("masque does not know this ", c.model_type,
               " field, so it cannot honour it (ignoring it might give wrong logits): remove it "
               "if it is metadata, or convert the model"));
  }
  if (json.contains("architectures") && !json.at("architectures").is_null()) {
    const Json expected = Json::array({qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"});
    if (json.at("architectures") != expected) {
      refuse(where, "architectures", json.at("architectures"),
             cat("a ", c.model_type, " model directory holds ", expected.dump()));
    }
  }
  const std::string act = get_field_or<std::string>(json, "hidden_act", where, "silu");
  if (act != "silu") {
    refuse(where, "hidden_act", json.at("hidden_act"), "masque supports only silu (SwiGLU)");
  }
  if (get_field_or<double>(json, "attention_dropout", where, 0.0) != 0.0) {
    refuse(where, "attention_dropout", json.at("attention_dropout"),
           "masque trains without dropout: set it to 0.0");
  }
  c.vocab_size = get_field<int>(json, "vocab_size", where);
  c.hidden_size = get_field<int>(json, "hidden_size", where);
  c.intermediate_size = get_field<int>(json, "intermediate_size", where);
  c.num_hidden_layers = get_field<int>(json, "num_hidden_layers", where);
  c.num_attention_heads = get_field<int>(json, "num_attention_heads", where);
  c.num_key_value_heads =
      get_field_or<int>(json, "num_key_value_heads", where, c.num_attention_heads);
  // Absent fields take the config class's defaults, so HF files read as HF reads them.
  c.max_position_embeddings =
      get_field_or<int>(json, "max_position_embeddings", where, qwen2 ? 32768 : 2048);
  c.rms_norm_eps = get_field_or<float>(json, "rms_norm_eps", where, 1e-6f);
  c.tie_word_embeddings = get_field_or<bool>(json, "tie_word_embeddings", where, false);
  c.bos_token_id = get_field_or<int>(json, "bos_token_id", where, 1);
  if (json.contains("eos_token_id") && json.at("eos_token_id").is_array()) {
    const Json& ids = json.at("eos_token_id");
    if (ids.empty()) refuse(where, "eos_token_id", ids, "give at least one id");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const int id = json_to_int<int>(ids[i], cat(where, ": eos_token_id[", i, "]"));
      if (i == 0) {
        c.eos_token_id = id;
      } else {
        c.extra_eos_token_ids.push_back(id);
      }
    }
  } else {
    c.eos_token_id = get_field_or<int>(json, "eos_token_id", where, 2);
  }

  bool theta_seen = false;
  if (json.contains("rope_theta") && !json.at("rope_theta").is_null()) {
    c.rope_theta = get_field<float>(json, "rope_theta", where);
    theta_seen = true;
  }
  const bool has_params = json.contains("rope_parameters") && !json.at("rope_parameters").is_null();
  const bool has_scaling = json.contains("rope_scaling") && !json.at("rope_scaling").is_null();
  if (has_params && has_scaling && json.at("rope_parameters") != json.at("rope_scaling")) {
    refuse(where, "rope_scaling", json.at("rope_scaling"),
           "it disagrees with rope_parameters: keep one of them");
  }
  if (has_params) read_rope(json.at("rope_parameters"), where, "rope_parameters", c, theta_seen);
  if (has_scaling && !has_params) {
    read_rope(json.at("rope_scaling"), where, "rope_scaling", c, theta_seen);
  }

  if (qwen2) {
    read_qwen2_window(json, where, c.num_hidden_layers);
    c.qkv_bias = true;
  } else {
    const bool attention_bias = get_field_or<bool>(json, "attention_bias", where, false);
    c.qkv_bias = c.o_bias = attention_bias;
    c.mlp_bias = get_field_or<bool>(json, "mlp_bias", where, false);
  }

  if (json.contains("head_dim") && !json.at("head_dim").is_null()) {
    c.head_dim = get_field<int>(json, "head_dim", where);
  } else if (c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads != 0) {
    const int lower = c.hidden_size / c.num_attention_heads * c.num_attention_heads;
    throw InputError(cat(where, ": hidden_size ", c.hidden_size,
                         " is not divisible by num_attention_heads ", c.num_attention_heads,
                         " and head_dim is not given: choose a hidden_size that is a multiple of ",
                         c.num_attention_heads, " (e.g. ",
                         lower > 0 ? lower : c.num_attention_heads, " or ",
                         lower + c.num_attention_heads, "), or set head_dim"));
  } else if (c.num_attention_heads > 0) {
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  try {
    c.validate();
  } catch (const InputError& e) {
    throw InputError(cat(where, ": ", e.what()));
  }
  return c;
}

Json ModelConfig::to_json() const {
  const bool qwen2 = model_type == "qwen2";
  Json j;
  j["architectures"] = Json::array({qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"});
  j["model_type"] = model_type;
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
  if (rope_type == "default") {
    j["rope_scaling"] = nullptr;
  } else {
    Json scaling{{"rope_type", rope_type}, {"factor", rope_factor}};
    if (rope_type == "llama3") {
      scaling["low_freq_factor"] = rope_low_freq_factor;
      scaling["high_freq_factor"] = rope_high_freq_factor;
      scaling["original_max_position_embeddings"] = rope_original_max_position_embeddings;
    }
    j["rope_scaling"] = scaling;
  }
  if (qwen2) {
    j["use_sliding_window"] = false;
  } else {
    j["attention_bias"] = qkv_bias;
    j["mlp_bias"] = mlp_bias;
    j["pretraining_tp"] = 1;
  }
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["bos_token_id"] = bos_token_id;
  if (extra_eos_token_ids.empty()) {
    j["eos_token_id"] = eos_token_id;
  } else {
    j["eos_token_id"] = eos_token_ids();
  }
  j["torch_dtype"] = "float32";
  return j;
}

}  // namespace masque
