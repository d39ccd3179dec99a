// ModelTextGenerator and model directories on a tiny random model: KV-cache
// decoding equals full recomputation, stop strings, UTF-8-safe streaming,
// seeds, and load_model_dir's errors for broken directories.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/json_util.h"
#include "core/threads.h"
#include "infer/model_dir.h"
#include "infer/model_generator.h"
#include "infer/model_weights.h"
#include "infer/sampler.h"
#include "tiny_world.h"

using namespace masque;
namespace fs = std::filesystem;

namespace {

class Generator : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(1);
    world_ = new test_world::TinyWorld(test_world::make_tiny_world("generator"));
    model_ = new Model(world_->config);
    model_->init_weights(17);
  }
  static void TearDownTestSuite() {
    fs::remove_all(world_->dir);
    delete model_;
    delete world_;
    set_num_threads(0);
  }
  static test_world::TinyWorld* world_;
  static Model* model_;
};
test_world::TinyWorld* Generator::world_ = nullptr;
Model* Generator::model_ = nullptr;

// A model directory like a checkpoint's (weights, config, tokenizer).
fs::path write_model_dir(const fs::path& dir, const Model& model, const Tokenizer& tokenizer) {
  fs::create_directories(dir);
  save_model_weights(model, dir / "model.safetensors");
  write_json_file(dir / "config.json", model.config().to_json());
  tokenizer.save(dir / "tokenizer.json");
  return dir;
}

}  // namespace

TEST_F(Generator, GreedyKvCacheDecodingEqualsFullRecomputation) {
  ModelTextGenerator gen(*model_, world_->tokenizer);
  GenerateOptions opts;
  opts.temperature = 0;
  opts.max_tokens = 20;
  const GenerationResult r = gen.run("Ada likes", opts);
  ASSERT_FALSE(r.prompt_tokens.empty());
  EXPECT_EQ(r.prompt_tokens.front(), static_cast<std::int32_t>(world_->tokenizer.bos_id()));

  // Recompute every step from scratch with forward_logits on the whole prefix.
  std::vector<std::int32_t> seq = r.prompt_tokens;
  const int vocab = world_->config.vocab_size;
  for (std::size_t i = 0; i < r.tokens.size(); ++i) {
    std::vector<float> logits(seq.size() * static_cast<std::size_t>(vocab));
    model_->forward_logits(seq.data(), 1, static_cast<int>(seq.size()), logits.data());
    const std::span<const float> last(
        logits.data() + (seq.size() - 1) * static_cast<std::size_t>(vocab),
        static_cast<std::size_t>(vocab));
    const std::int32_t expected = argmax_token(last);
    ASSERT_EQ(r.tokens[i], expected) << "token " << i;
    seq.push_back(expected);
  }
  if (r.finish_reason == "length") {
    EXPECT_EQ(r.tokens.size(), 20u);
  }
}

TEST_F(Generator, SeedsAreReproducibleAndStreamingMatchesTheResult) {
  ModelTextGenerator gen(*model_, world_->tokenizer);
  GenerateOptions opts;
  opts.temperature = 1.0f;
  opts.max_tokens = 30;
  opts.seed = 5;
  std::string streamed;
  const GenerationResult a =
      gen.run("Bo sees", opts, [&](const std::string& piece) { streamed += piece; });
  const GenerationResult b = gen.run("Bo sees", opts);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(streamed, a.text);
  opts.seed = 6;
  const GenerationResult c = gen.run("Bo sees", opts);
  EXPECT_NE(a.tokens, c.tokens) << "a random model should not repeat 30 tokens under another seed";
}

TEST_F(Generator, StopStringsEndGenerationAndAreNotEmitted) {
  ModelTextGenerator gen(*model_, world_->tokenizer);
  GenerateOptions opts;
  opts.temperature = 0;
  opts.max_tokens = 40;
  const std::string full = gen.run("Cy finds", opts).text;
  ASSERT_GE(full.size(), 4u);
  // Stop at a substring that occurs in the greedy continuation.
  const std::string stop = full.substr(full.size() / 2, 2);
  opts.stop = {stop};
  std::string streamed;
  const GenerationResult r =
      gen.run("Cy finds", opts, [&](const std::string& piece) { streamed += piece; });
  EXPECT_EQ(r.text, full.substr(0, full.find(stop)));
  EXPECT_EQ(streamed, r.text) << "no part of the stop string may be streamed";
  EXPECT_EQ(r.finish_reason, "stop");
}

TEST_F(Generator, StreamingNeverSplitsUtf8Characters) {
  // A tokenizer trained on multi-byte text so tokens can end mid-character.
  const fs::path dir = test_world::fresh_dir("utf8");
  std::ofstream(dir / "c.txt") << "naïve café — ünïcödé ☃ snow ☃ café naïve";
  BpeTrainOptions bpe;
  bpe.inputs = {(dir / "c.txt").string()};
  bpe.vocab_size = 270;
  bpe.progress = false;
  const Tokenizer tok = train_bpe(bpe);
  Model model(test_world::tiny_config(static_cast<int>(tok.vocab_size()), tok));
  model.init_weights(3);
  ModelTextGenerator gen(model, tok);
  GenerateOptions opts;
  opts.max_tokens = 60;
  int multibyte_chars = 0;
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    opts.seed = seed;
    std::string joined;
    std::vector<std::size_t> boundaries;
    gen.run("☃", opts, [&](const std::string& piece) {
      joined += piece;
      boundaries.push_back(joined.size());
    });
    // Every well-formed multi-byte character must arrive whole, inside one piece.
    for (std::size_t i = 0; i < joined.size();) {
      const auto c = static_cast<unsigned char>(joined[i]);
      const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      bool well_formed = len > 1 && i + len <= joined.size();
      for (std::size_t k = 1; well_formed && k < len; ++k) {
        well_formed = (static_cast<unsigned char>(joined[i + k]) & 0xC0) == 0x80;
      }
      if (!well_formed) {
        ++i;
        continue;
      }
      ++multibyte_chars;
      for (std::size_t b : boundaries) {
        EXPECT_FALSE(b > i && b < i + len) << "a piece boundary splits the character at byte " << i;
      }
      i += len;
    }
  }
  EXPECT_GT(multibyte_chars, 10) << "the test needs multi-byte output to mean anything";
  fs::remove_all(dir);
}

TEST_F(Generator, ModelVocabLargerThanTheTokenizerIsFine) {
  // HF checkpoints often pad vocab_size; ids past the tokenizer have no text.
  ModelConfig padded = world_->config;
  padded.vocab_size = static_cast<int>(world_->tokenizer.vocab_size()) + 200;
  Model model(padded);
  model.init_weights(8);
  ModelTextGenerator gen(model, world_->tokenizer);
  GenerateOptions opts;
  opts.max_tokens = 40;
  opts.ignore_eos = true;
  int beyond = 0;
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    opts.seed = seed;
    const GenerationResult r = gen.run("Ada", opts);
    EXPECT_EQ(r.tokens.size(), 40u);
    for (std::int32_t t : r.tokens)
      beyond += t >= static_cast<std::int32_t>(world_->tokenizer.vocab_size());
  }
  EXPECT_GT(beyond, 0) << "the test needs ids past the tokenizer to mean anything";
}

TEST_F(Generator, RejectsBadOptions) {
  ModelTextGenerator gen(*model_, world_->tokenizer);
  GenerateOptions opts;
  opts.max_tokens = 64;  // == context
  EXPECT_THROW(gen.run("x", opts), InputError);
  opts.max_tokens = 4;
  opts.stop = {""};
  EXPECT_THROW(gen.run("x", opts), InputError);
  opts.stop = {};
  EXPECT_THROW(gen.run_tokens({100000}, opts), InputError);
}

TEST_F(Generator, LoadModelDirRoundTripsAndRejectsBrokenDirectories) {
  const fs::path dir = write_model_dir(world_->dir / "model_ok", *model_, world_->tokenizer);
  const LoadedModel loaded = load_model_dir(dir);
  EXPECT_EQ(loaded.model->config(), world_->config);
  EXPECT_EQ(std::memcmp(loaded.model->param_data(), model_->param_data(), model_->num_params() * 4),
            0);

  EXPECT_THROW(load_model_dir(world_->dir / "nope"), InputError);

  // A weights file for a 1-layer model under a 2-layer config: missing tensors listed.
  ModelConfig small = world_->config;
  small.num_hidden_layers = 1;
  Model one_layer(small);
  const fs::path bad = write_model_dir(world_->dir / "model_missing", one_layer, world_->tokenizer);
  write_json_file(bad / "config.json", world_->config.to_json());
  try {
    load_model_dir(bad);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensors: model.layers.1."), std::string::npos)
        << e.what();
  }
  // Extra tensors are named too.
  const fs::path extra = write_model_dir(world_->dir / "model_extra", *model_, world_->tokenizer);
  write_json_file(extra / "config.json", small.to_json());
  try {
    load_model_dir(extra);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected tensors: model.layers.1."), std::string::npos)
        << e.what();
  }
  // Truncated weights.
  const fs::path cut = write_model_dir(world_->dir / "model_cut", *model_, world_->tokenizer);
  fs::resize_file(cut / "model.safetensors", fs::file_size(cut / "model.safetensors") / 2);
  EXPECT_THROW(load_model_dir(cut), FormatError);
  // No tokenizer.
  const fs::path notok = write_model_dir(world_->dir / "model_notok", *model_, world_->tokenizer);
  fs::remove(notok / "tokenizer.json");
  EXPECT_THROW(load_model_dir(notok), FormatError);
}

TEST_F(Generator, LoadsBf16Weights) {
  const fs::path dir = world_->dir / "model_bf16";
  fs::create_directories(dir);
  SafetensorsWriter writer;
  for (const ParamView& p : model_->params()) {
    std::vector<std::uint16_t> half(p.numel);
    for (std::size_t i = 0; i < p.numel; ++i) half[i] = f32_to_bf16(p.data[i]);
    writer.add(p.name, DType::BF16, p.shape, half.data(), half.size() * 2);
  }
  writer.write(dir / "model.safetensors");
  write_json_file(dir / "config.json", world_->config.to_json());
  world_->tokenizer.save(dir / "tokenizer.json");
  const LoadedModel loaded = load_model_dir(dir);
  const float* a = loaded.model->param_data();
  const float* b = model_->param_data();
  for (std::size_t i = 0; i < model_->num_params(); ++i) {
    ASSERT_NEAR(a[i], b[i], std::abs(b[i]) * 0.008f + 1e-30f) << i;
  }
}
