// Batched decoding through the inference engine: 8 different prompts decoded
// together equal 8 single decodes token for token (greedy and seeded
// sampling); one prefill serves n continuations; cancel stops generation;
// two engines on two threads give the results of one after the other.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "core/error.h"
#include "core/threads.h"
#include "infer/model_generator.h"
#include "model/inference_engine.h"
#include "tiny_world.h"

using namespace masque;
namespace fs = std::filesystem;

namespace {

class BatchedDecode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world_ = new test_world::TinyWorld(test_world::make_tiny_world("batched"));
    world_->config.max_position_embeddings = 128;
    model_ = new Model(world_->config);
    model_->init_weights(23);
  }
  static void TearDownTestSuite() {
    fs::remove_all(world_->dir);
    delete model_;
    delete world_;
  }
  static std::vector<std::string> prompts() {
    return {"Ada likes",
            "Bo sees the old tree. Cy",
            "Dee",
            "Cy helps a red ball. Ada finds some tea. Bo",
            "the cat",
            "Bo likes the cat. Dee sees",
            "Ada helps some",
            "Cy finds the old tree and"};
  }
  static test_world::TinyWorld* world_;
  static Model* model_;
};
test_world::TinyWorld* BatchedDecode::world_ = nullptr;
Model* BatchedDecode::model_ = nullptr;

void expect_same(const GenerationResult& a, const GenerationResult& b, const std::string& what) {
  EXPECT_EQ(a.tokens, b.tokens) << what;
  EXPECT_EQ(a.text, b.text) << what;
  EXPECT_EQ(a.finish_reason, b.finish_reason) << what;
}

TEST_F(BatchedDecode, EightPromptsTogetherEqualEightAlone) {
  for (float temperature : {0.0f, 0.9f}) {
    ModelTextGenerator gen(*model_, world_->tokenizer);
    std::vector<std::vector<std::int32_t>> ids;
    std::vector<GenerateOptions> options;
    for (std::size_t i = 0; i < prompts().size(); ++i) {
      ids.push_back(gen.encode_prompt(prompts()[i]));
      GenerateOptions o;
      o.temperature = temperature;
      o.top_k = 20;
      o.max_tokens = 12 + static_cast<int>(i) * 3;  // sequences finish at different steps
      o.seed = 100 + i;
      o.ignore_eos = true;
      options.push_back(o);
    }
    const std::vector<GenerationResult> batch = gen.run_batch(ids, options);
    ASSERT_EQ(batch.size(), ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const GenerationResult alone = gen.run_tokens(ids[i], options[i]);
      expect_same(batch[i], alone,
                  "prompt " + std::to_string(i) + " at temperature " + std::to_string(temperature));
      EXPECT_EQ(batch[i].tokens.size(), static_cast<std::size_t>(options[i].max_tokens));
    }
  }
}

TEST_F(BatchedDecode, OnePrefillServesManyContinuations) {
  ModelTextGenerator gen(*model_, world_->tokenizer);
  const std::vector<std::int32_t> prompt = gen.encode_prompt("Bo sees the old tree. Cy helps");
  GenerateOptions o;
  o.temperature = 1.0f;
  o.max_tokens = 10;
  o.seed = 7;
  o.ignore_eos = true;
  const std::int64_t before = gen.engine().tokens_forwarded();
  const std::vector<GenerationResult> many = gen.sample_n(prompt, 5, o);
  const std::int64_t used = gen.engine().tokens_forwarded() - before;
  // The prompt once, then one token per step per continuation (the last sampled token is never
  // fed).
  EXPECT_EQ(used, static_cast<std::int64_t>(prompt.size()) + 5 * (o.max_tokens - 1));
  ASSERT_EQ(many.size(), 5u);
  std::set<std::vector<std::int32_t>> distinct;
  for (int i = 0; i < 5; ++i) {
    GenerateOptions oi = o;
    oi.seed = o.seed + i;
    expect_same(many[i], gen.run_tokens(prompt, oi), "continuation " + std::to_string(i));
    distinct.insert(many[i].tokens);
  }
  EXPECT_GT(distinct.size(), 1u) << "different seeds should give different continuations";
  EXPECT_THROW(gen.sample_n(prompt, 0, o), InputError);
}

TEST_F(BatchedDecode, CancelStopsGeneration) {
  ModelTextGenerator gen(*model_, world_->tokenizer);
  GenerateOptions o;
  o.temperature = 0;
  o.max_tokens = 40;
  o.ignore_eos = true;
  int polls = 0;
  o.cancel = [&] { return ++polls > 5; };
  const GenerationResult r = gen.run("Ada likes", o);
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_EQ(r.tokens.size(), 5u);
  // In a batch only the cancelled sequence stops.
  std::vector<GenerateOptions> options(2, o);
  options[1].cancel = {};
  const auto ids = gen.encode_prompt("Ada likes");
  polls = 0;
  const auto both = gen.run_batch({ids, ids}, options);
  EXPECT_EQ(both[0].finish_reason, "cancelled");
  EXPECT_EQ(both[1].finish_reason, "length");
  EXPECT_EQ(both[1].tokens.size(), 40u);
}

TEST_F(BatchedDecode, TwoEnginesOnTwoThreadsMatchOneAfterTheOther) {
  GenerateOptions o;
  o.temperature = 0.8f;
  o.max_tokens = 24;
  o.ignore_eos = true;
  auto work = [&](int which, std::vector<GenerationResult>& out) {
    ModelTextGenerator gen(*model_, world_->tokenizer, 0, EngineOptions{1});
    for (int k = 0; k < 4; ++k) {
      GenerateOptions ok = o;
      ok.seed = static_cast<std::uint64_t>(which * 10 + k);
      out.push_back(gen.run(prompts()[static_cast<std::size_t>(which * 4 + k)], ok));
    }
  };
  std::vector<GenerationResult> serial_a, serial_b, par_a, par_b;
  work(0, serial_a);
  work(1, serial_b);
  std::thread ta([&] { work(0, par_a); });
  std::thread tb([&] { work(1, par_b); });
  ta.join();
  tb.join();
  for (int k = 0; k < 4; ++k) {
    expect_same(par_a[k], serial_a[k], "engine A, prompt " + std::to_string(k));
    expect_same(par_b[k], serial_b[k], "engine B, prompt " + std::to_string(k));
  }
  // Whole-sequence scoring is const and thread-safe too.
  const std::vector<std::int32_t> tokens(20, 5);
  std::vector<float> one(20 * world_->config.vocab_size), two(one.size()), ref(one.size());
  model_->forward_logits(tokens.data(), 1, 20, ref.data());
  std::thread t1([&] { model_->forward_logits(tokens.data(), 1, 20, one.data()); });
  std::thread t2([&] { model_->forward_logits(tokens.data(), 1, 20, two.data()); });
  t1.join();
  t2.join();
  EXPECT_EQ(one, ref);
  EXPECT_EQ(two, ref);
}

TEST_F(BatchedDecode, EngineThreadSettingIsPerEngine) {
  set_num_threads(2);
  InferenceEngine one(*model_, EngineOptions{1});
  EXPECT_EQ(one.threads(), 1);
  KvCache cache(*model_);
  const std::int32_t ids[3] = {1, 2, 3};
  one.append(cache, ids);
  EXPECT_EQ(num_threads(), 2) << "an engine's thread setting must not leak into the process";
  EXPECT_THROW(InferenceEngine(*model_, EngineOptions{-1}), InputError);
  set_num_threads(0);
}

}  // namespace
