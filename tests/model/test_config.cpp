// ModelConfig: Hugging Face LlamaConfig JSON round trip, validation errors
// that name the field and the fix, the depth preset and the counts.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "model/config.h"

namespace masque {
namespace {

std::string error_of(const Json& json) {
  try {
    ModelConfig::from_json(json, "config.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, JsonRoundTripWritesEveryHuggingFaceField) {
  ModelConfig c = ModelConfig::from_depth(4, 4096, 256);
  c.num_key_value_heads = 2;
  c.tie_word_embeddings = false;
  c.bos_token_id = 3;
  c.eos_token_id = 4;
  const Json j = c.to_json();
  for (const char* key :
       {"architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size",
        "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
        "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling", "attention_bias",
        "mlp_bias", "tie_word_embeddings", "bos_token_id", "eos_token_id"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["architectures"][0], "LlamaForCausalLM");
  EXPECT_TRUE(j["rope_scaling"].is_null());
  EXPECT_EQ(ModelConfig::from_json(j, "test"), c);
}

TEST(ModelConfig, AbsentFieldsTakeLlamaConfigDefaults) {
  Json j = {{"vocab_size", 100},
            {"hidden_size", 64},
            {"intermediate_size", 96},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4}};
  const ModelConfig c = ModelConfig::from_json(j, "config.json");
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
}

TEST(ModelConfig, InconsistentShapesAreRejectedWithTheFix) {
  Json j = ModelConfig::from_depth(4, 512, 64).to_json();
  j["hidden_size"] = 250;
  j.erase("head_dim");
  std::string msg = error_of(j);
  EXPECT_NE(msg.find("hidden_size 250 is not divisible by num_attention_heads 4 and head_dim is "
                     "not given"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;

  j = ModelConfig::from_depth(4, 512, 64).to_json();
  j["num_key_value_heads"] = 3;
  msg = error_of(j);
  EXPECT_NE(msg.find("num_key_value_heads 3 must divide num_attention_heads 4"), std::string::npos)
      << msg;

  j = ModelConfig::from_depth(4, 512, 64).to_json();
  j["head_dim"] = 7;
  EXPECT_NE(error_of(j).find("head_dim 7"), std::string::npos);

  j = ModelConfig::from_depth(4, 512, 64).to_json();
  j["hidden_size"] = "256";
  msg = error_of(j);
  EXPECT_NE(msg.find("'hidden_size' must be an integer"), std::string::npos) << msg;

  j = ModelConfig::from_depth(4, 512, 64).to_json();
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  EXPECT_NE(error_of(j).find("rope_scaling.rope_type"), std::string::npos);

  j = ModelConfig::from_depth(4, 512, 64).to_json();
  j["hidden_act"] = "gelu";
  EXPECT_NE(error_of(j).find("hidden_act"), std::string::npos);

  j = ModelConfig::from_depth(4, 512, 64).to_json();
  j["eos_token_id"] = 512;
  EXPECT_NE(error_of(j).find("eos_token_id 512"), std::string::npos);

  j = ModelConfig::from_depth(4, 512, 64).to_json();
  j.erase("vocab_size");
  EXPECT_NE(error_of(j).find("missing required field 'vocab_size'"), std::string::npos);
}

// Every config.json key is honoured, metadata, or refused by name: a field
// masque ignored could change the logits silently (transformers 5's
// rope_parameters did).
TEST(ModelConfig, UnsupportedFieldsAreRefusedByName) {
  const Json base = ModelConfig::from_depth(2, 512, 64).to_json();
  const std::vector<std::pair<std::string, Json>> cases = {
      {"rope_parameters.rope_type",
       {{"rope_parameters", {{"rope_type", "yarn"}, {"factor", 2.0}}}}},
      {"rope_parameters.beta_fast",
       {{"rope_parameters", {{"rope_type", "linear"}, {"factor", 2.0}, {"beta_fast", 32}}}}},
      {"'sliding_window'", {{"sliding_window", 4096}}},
      {"'quantization_config'", {{"quantization_config", {{"bits", 4}}}}},
      {"'attention_dropout'", {{"attention_dropout", 0.1}}},
      {"'model_type'", {{"model_type", "mistral"}}},
      {"'partial_rotary_factor'", {{"partial_rotary_factor", 0.5}}},
      {"'architectures'", {{"architectures", {"MistralForCausalLM"}}}},
  };
  for (const auto& [needle, patch] : cases) {
    Json j = base;
    j.merge_patch(patch);
    const std::string msg = error_of(j);
    EXPECT_NE(msg.find(needle), std::string::npos) << needle << ": " << msg;
  }
  // Qwen2's window fields are accepted only as full attention.
  Json q = base;
  q["model_type"] = "qwen2";
  q["architectures"] = {"Qwen2ForCausalLM"};
  q.erase("attention_bias");
  q.erase("mlp_bias");
  q.erase("pretraining_tp");
  q["use_sliding_window"] = false;
  q["sliding_window"] = 4096;
  q["layer_types"] = {"full_attention", "full_attention"};
  const ModelConfig qc = ModelConfig::from_json(q, "config.json");
  EXPECT_TRUE(qc.qkv_bias && !qc.o_bias && !qc.mlp_bias);
  EXPECT_EQ(ModelConfig::from_json(qc.to_json(), "again"), qc);
  q["use_sliding_window"] = true;
  EXPECT_NE(error_of(q).find("use_sliding_window"), std::string::npos);
  q["use_sliding_window"] = false;
  q["layer_types"] = {"full_attention", "sliding_attention"};
  EXPECT_NE(error_of(q).find("layer_types"), std::string::npos);
}

TEST(ModelConfig, ReadsBothTransformersLayoutsOfRope) {
  Json v5 = ModelConfig::from_depth(2, 512, 64).to_json();
  v5.erase("rope_theta");
  v5.erase("rope_scaling");
  v5["rope_parameters"] = {{"rope_type", "llama3"},   {"rope_theta", 500000.0},
                           {"factor", 8.0},           {"low_freq_factor", 1.0},
                           {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 32}};
  v5["eos_token_id"] = {3, 5, 7};
  const ModelConfig c = ModelConfig::from_json(v5, "config.json");
  EXPECT_EQ(c.rope_type, "llama3");
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.rope_original_max_position_embeddings, 32);
  EXPECT_EQ(c.eos_token_id, 3);
  EXPECT_EQ(c.eos_token_ids(), (std::vector<int>{3, 5, 7}));
  // Written back in the transformers 4 layout, read again unchanged.
  const Json v4 = c.to_json();
  EXPECT_EQ(v4["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(ModelConfig::from_json(v4, "v4"), c);
  // A rope_theta in both places that disagrees is refused.
  Json both = v5;
  both["rope_theta"] = 10000.0;
  EXPECT_NE(error_of(both).find("rope_parameters.rope_theta"), std::string::npos);
  // head_dim need not be hidden_size / heads when given.
  Json hd = ModelConfig::from_depth(2, 512, 64).to_json();
  hd["hidden_size"] = 100;
  hd["head_dim"] = 16;
  EXPECT_EQ(ModelConfig::from_json(hd, "config.json").head_dim, 16);
}

TEST(ModelConfig, DepthPreset) {
  const ModelConfig small = ModelConfig::from_depth(2, 1000, 128);
  EXPECT_EQ(small.hidden_size, 128);
  EXPECT_EQ(small.head_dim, 32);
  EXPECT_EQ(small.num_attention_heads, 4);
  EXPECT_EQ(small.num_hidden_layers, 2);
  EXPECT_EQ(small.intermediate_size % 32, 0);
  const ModelConfig c = ModelConfig::from_depth(8, 8192, 512);
  EXPECT_EQ(c.hidden_size, 512);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.intermediate_size, 1376);  // round(8/3 * 512 / 32) * 32
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_GT(ModelConfig::learning_rate_for_depth(2), ModelConfig::learning_rate_for_depth(8));
  EXPECT_THROW(ModelConfig::from_depth(0, 100, 64), InputError);
}

TEST(ModelConfig, Counts) {
  ModelConfig c = ModelConfig::from_depth(8, 8192, 512);
  c.tie_word_embeddings = false;
  const std::int64_t d = 512, ff = 1376, V = 8192;
  const std::int64_t layer = 4 * d * d + 3 * d * ff + 2 * d;
  EXPECT_EQ(c.num_parameters(), 2 * V * d + 8 * layer + d);
  const double matmul = 8.0 * (4 * d * d + 3 * d * ff) + static_cast<double>(V) * d;
  EXPECT_GT(c.train_flops_per_token(512), 6 * matmul);
  EXPECT_LT(c.train_flops_per_token(512), 6 * matmul * 1.2);
}

}  // namespace
}  // namespace masque
