// train_model end to end on a tiny world: learning, checkpoints (layout,
// retention, loadability), bit-exact resume, the RUN_DIR lock, divergence and
// bad input.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/threads.h"
#include "infer/model_dir.h"
#include "io/safetensors.h"
#include "tiny_data.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

using namespace masque;
namespace fs = std::filesystem;

namespace {

TrainOptions tiny_options(const test_world::TinyWorld& w, const fs::path& out) {
  TrainOptions o;
  o.model = w.config;
  o.data_dir = w.data_dir;
  o.tokenizer_path = w.tokenizer_path;
  o.out_dir = out;
  o.batch_size = 4;
  o.seq_len = 16;
  o.steps = 8;
  o.lr = 1e-2f;
  o.warmup_steps = 2;
  o.eval_every = 4;
  o.eval_batches = 2;
  o.checkpoint_every = 2;
  o.keep_checkpoints = 2;
  o.seed = 42;
  o.deterministic = true;
  o.progress = false;
  return o;
}

// loss_hex of every "train"/"val" line, in file order.
std::vector<std::string> metric_losses(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    const Json j = Json::parse(line);
    out.push_back(j["type"].get<std::string>() + ":" + std::to_string(j["step"].get<int>()) + ":" +
                  j["loss_hex"].get<std::string>());
  }
  return out;
}

class Trainer : public ::testing::Test {
 protected:
  // One thread: these models are tiny, and on a shared 2-core machine OpenMP
  // barriers between threads cost more than the math.
  static void SetUpTestSuite() {
    set_num_threads(1);
    world_ = new test_world::TinyWorld(test_world::make_tiny_world_with_data("trainer"));
  }
  static void TearDownTestSuite() {
    fs::remove_all(world_->dir);
    delete world_;
    set_num_threads(0);
  }
  static test_world::TinyWorld* world_;
};
test_world::TinyWorld* Trainer::world_ = nullptr;

}  // namespace

TEST_F(Trainer, LearnsWritesCheckpointsAndKeepsTheLastK) {
  const fs::path run = world_->dir / "run_basic";
  TrainOptions o = tiny_options(*world_, run);
  o.steps = 30;
  o.lr = 3e-2f;
  o.checkpoint_every = 10;
  o.eval_every = 10;
  std::vector<float> seen;
  const TrainResult r = train_model(o, [&](std::int64_t, float loss) { seen.push_back(loss); });
  ASSERT_EQ(r.steps_done, 30);
  ASSERT_EQ(seen.size(), 30u);
  EXPECT_LT(r.final_train_loss, seen.front() - 1.0f) << "loss should fall on this easy corpus";
  EXPECT_EQ(r.val_curve.size(), 3u);
  EXPECT_TRUE(std::isfinite(r.final_val_loss));

  const auto checkpoints = list_checkpoints(run);
  ASSERT_EQ(checkpoints.size(), 2u) << "keep 2";
  EXPECT_EQ(checkpoints[0].step, 30);
  EXPECT_EQ(checkpoints[1].step, 20);
  EXPECT_EQ(r.last_checkpoint, checkpoints[0].dir);
  for (const char* file :
       {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
        "tokenizer_config.json", "optimizer.safetensors", "trainer_state.json"}) {
    EXPECT_TRUE(fs::exists(checkpoints[0].dir / file)) << file;
  }
  SafetensorsFile weights(checkpoints[0].dir / "model.safetensors");
  EXPECT_EQ(weights.metadata().at("format"), "pt");
  EXPECT_TRUE(weights.contains("model.embed_tokens.weight"));
  EXPECT_FALSE(weights.contains("lm_head.weight")) << "tied: lm_head omitted like transformers";
  const Json state = read_json_file(checkpoints[0].dir / "trainer_state.json");
  EXPECT_EQ(state["step"], 30);
  const Json tok_config = read_json_file(checkpoints[0].dir / "tokenizer_config.json");
  EXPECT_EQ(tok_config["tokenizer_class"], "PreTrainedTokenizerFast");
  EXPECT_EQ(tok_config["bos_token"], "<|bos|>");

  // The run dir and the checkpoint load for inference with the same weights.
  const LoadedModel loaded = load_model_dir(run);
  EXPECT_EQ(loaded.dir, checkpoints[0].dir);
  EXPECT_EQ(loaded.model->config(), world_->config);
  // A second fresh run into the same directory is refused.
  EXPECT_THROW(train_model(o), InputError);
}

TEST_F(Trainer, ResumeIsBitExact) {
  const fs::path full = world_->dir / "run_full";
  const fs::path split = world_->dir / "run_split";
  TrainOptions o = tiny_options(*world_, full);
  o.grad_accum = 2;
  train_model(o);

  TrainOptions first = tiny_options(*world_, split);
  first.grad_accum = 2;
  first.steps = 8;
  // Interrupt after step 5 (an exception from the callback stands in for a
  // kill): checkpoints exist for steps 2 and 4, metrics run to step 5.
  EXPECT_THROW(train_model(first,
                           [](std::int64_t step, float) {
                             if (step == 5) throw std::runtime_error("interrupted");
                           }),
               std::runtime_error);
  EXPECT_EQ(list_checkpoints(split).front().step, 4);
  first.resume = true;
  const TrainResult resumed = train_model(first);
  EXPECT_EQ(resumed.steps_done, 8);
  EXPECT_EQ(resumed.train_curve.front().first, 5) << "resumed from the step-4 checkpoint";

  const auto a = metric_losses(full);
  const auto b = metric_losses(split);
  ASSERT_EQ(a.size(), 8u + 2u);  // 8 train lines + val at 4 and 8
  EXPECT_EQ(a, b) << "an interrupted and resumed run must repeat the losses bit for bit";

  // Same weights at the end, byte for byte.
  const std::string wa = read_file(full / "checkpoints/step-8/model.safetensors");
  const std::string wb = read_file(split / "checkpoints/step-8/model.safetensors");
  EXPECT_TRUE(wa == wb);
}

TEST_F(Trainer, ResumeSkipsABrokenNewestCheckpoint) {
  const fs::path run = world_->dir / "run_broken";
  TrainOptions o = tiny_options(*world_, run);
  o.steps = 4;
  train_model(o);
  // Truncate the newest checkpoint's weights: resume must fall back to step 2.
  const fs::path newest = run / "checkpoints/step-4/model.safetensors";
  fs::resize_file(newest, fs::file_size(newest) - 10);
  o.steps = 6;
  o.resume = true;
  const TrainResult r = train_model(o);
  EXPECT_EQ(r.train_curve.front().first, 3);
  EXPECT_EQ(r.steps_done, 6);
}

TEST_F(Trainer, ResumeWithAnotherConfigNamesTheField) {
  const fs::path run = world_->dir / "run_cfg";
  TrainOptions o = tiny_options(*world_, run);
  o.steps = 2;
  train_model(o);
  o.steps = 4;
  o.resume = true;
  o.model.intermediate_size = 96;
  try {
    train_model(o);
    FAIL() << "resume with another config must fail";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("intermediate_size"), std::string::npos) << e.what();
  }
}

TEST_F(Trainer, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  const fs::path run = world_->dir / "run_nan";
  TrainOptions o = tiny_options(*world_, run);
  o.steps = 20;
  o.warmup_steps = 0;
  o.schedule = "constant";
  o.checkpoint_every = 1;
  o.grad_clip = 0;
  o.lr = 1e30f;  // weights explode after the first update
  try {
    train_model(o);
    FAIL() << "a non-finite loss must stop training";
  } catch (const NumericError& e) {
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos) << e.what();
    // The shared loop's wording, which SFT's test (tests/posttrain) also requires.
    const std::regex message(
        R"(^training diverged: the (loss|gradient norm) is \S+ at step \d+; )"
        R"((the last good checkpoint \S+ is kept|no checkpoint was written yet)\. Lower --lr \(now )");
    EXPECT_TRUE(std::regex_search(e.what(), message)) << e.what();
  }
  const auto checkpoints = list_checkpoints(run);
  ASSERT_FALSE(checkpoints.empty());
  std::string why;
  EXPECT_TRUE(checkpoint_is_complete(checkpoints.front().dir, true, &why)) << why;
}

TEST_F(Trainer, RefusesASecondRunInTheSameRunDir) {
  const fs::path run = world_->dir / "run_locked";
  TrainOptions o = tiny_options(*world_, run);
  o.steps = 4;
  // A second trainer into the RUN_DIR while the first is training.
  std::string refused;
  const TrainResult r = train_model(o, [&](std::int64_t step, float) {
    if (step != 3) return;
    TrainOptions second = o;
    second.resume = true;
    try {
      train_model(second);
    } catch (const InputError& e) {
      refused = e.what();
    }
  });
  EXPECT_NE(refused.find("another training run"), std::string::npos) << refused;
  EXPECT_EQ(r.steps_done, 4);
  // Lock held by someone else from the start: nothing is written.
  const fs::path held = world_->dir / "run_held";
  fs::create_directories(held);
  const int fd = ::open((held / "train.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_THROW(train_model(tiny_options(*world_, held)), InputError);
  ::close(fd);
  EXPECT_FALSE(fs::exists(held / "run.json"));
  EXPECT_FALSE(fs::exists(held / "metrics.jsonl"));
  EXPECT_FALSE(fs::exists(held / "checkpoints"));
}

TEST_F(Trainer, RejectsBadInput) {
  const fs::path run = world_->dir / "run_bad";
  TrainOptions o = tiny_options(*world_, run);
  {  // width not divisible by heads
    TrainOptions bad = o;
    bad.model.num_attention_heads = 3;
    bad.model.head_dim = 0;
    EXPECT_THROW(train_model(bad), InputError);
  }
  {  // kv heads not dividing heads
    TrainOptions bad = o;
    bad.model.num_key_value_heads = 3;
    EXPECT_THROW(train_model(bad), InputError);
  }
  {  // seq_len above the context
    TrainOptions bad = o;
    bad.seq_len = 65;
    EXPECT_THROW(train_model(bad), InputError);
  }
  {  // shards declaring a larger vocabulary than the model
    const fs::path data = world_->dir / "data_big_vocab";
    fs::create_directories(data);
    test_world::write_shard(data / "train_000.bin", world_->tokenizer,
                            test_world::tiny_corpus_text(50, 1),
                            world_->tokenizer.vocab_size() + 100);
    TrainOptions bad = o;
    bad.data_dir = data;
    bad.eval_every = 0;
    try {
      train_model(bad);
      FAIL();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("train_000.bin"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(run / "checkpoints")) << "nothing written for rejected input";
}
