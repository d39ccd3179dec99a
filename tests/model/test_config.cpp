// ModelConfig: Hugging Face LlamaConfig JSON round trip, validation errors
// that name the field and the fix, the depth preset and the counts.
#include <gtest/gtest.h>

#include <string>

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
  EXPECT_NE(msg.find("hidden_size 250 is not divisible by num_attention_heads 4"),
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
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_NE(error_of(j).find("rope_scaling"), std::string::npos);

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
