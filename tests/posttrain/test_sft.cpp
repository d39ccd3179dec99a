// SFT and LoRA: exact adapter gradients (finite differences), loss goes down
// on Assistant tokens, resume repeats the uninterrupted run bit for bit (full
// and LoRA); and what SFT shares with pretraining through the training loop:
// loss_hex metrics, the RUN_DIR lock, the divergence message.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/rng.h"
#include "infer/model_dir.h"
#include "infer/model_generator.h"
#include "posttrain/chat_format.h"
#include "posttrain/lora.h"
#include "posttrain/sft.h"
#include "tokenizer/bpe_trainer.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {

struct Fixture {
  fs::path dir;
  Tokenizer tok;
  ModelConfig config;
  fs::path base;  // a checkpoint directory
};

Fixture make_fixture(const std::string& name) {
  Fixture f;
  f.dir = fs::temp_directory_path() / ("masque_sft_" + name + std::to_string(::getpid()));
  fs::remove_all(f.dir);
  fs::create_directories(f.dir);
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += "What is the capital? The capital is Orin. Where is the river? ";
  write_file_atomic(f.dir / "corpus.txt", text);
  BpeTrainOptions o;
  o.inputs = {(f.dir / "corpus.txt").string()};
  o.vocab_size = 280;
  o.progress = false;
  f.tok = train_bpe(o);
  f.config.vocab_size = static_cast<int>(f.tok.vocab_size());
  f.config.hidden_size = 32;
  f.config.intermediate_size = 64;
  f.config.num_hidden_layers = 2;
  f.config.num_attention_heads = 4;
  f.config.num_key_value_heads = 2;
  f.config.head_dim = 8;
  f.config.max_position_embeddings = 64;
  f.config.bos_token_id = static_cast<int>(f.tok.bos_id());
  f.config.eos_token_id = static_cast<int>(f.tok.eos_id());
  Model model(f.config);
  model.init_weights(7);
  AdamW opt(model, AdamWConfig{});
  TrainerState state;
  state.tokenizer_fingerprint = f.tok.fingerprint();
  state.config_hash = config_hash(f.config);
  f.base = save_checkpoint(f.dir / "base", model, opt, f.tok, state, 1);
  std::ofstream chats(f.dir / "chats.jsonl");
  for (int i = 0; i < 12; ++i) {
    chats << R"({"messages": [{"role": "user", "content": "What is the capital?"}, )"
          << R"({"role": "assistant", "content": "The capital is Orin."}]})"
          << "\n";
  }
  return f;
}

std::vector<std::string> metric_lines(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(Json::parse(line).at("loss").dump());
  return lines;
}

// "step:loss_hex" of every train line: the exact float32 losses.
std::vector<std::string> metric_hex(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    const Json j = Json::parse(line);
    out.push_back(std::to_string(j.at("step").get<int>()) + ":" +
                  j.at("loss_hex").get<std::string>());
  }
  return out;
}

SftOptions tiny_sft(const Fixture& f, const std::string& run) {
  SftOptions o;
  o.base = f.base;
  o.data = f.dir / "chats.jsonl";
  o.out_dir = f.dir / run;
  o.batch_size = 2;
  o.seq_len = 32;
  o.steps = 8;
  o.lr = 1e-2f;
  o.progress = false;
  return o;
}

// The divergence message of the shared training loop, as pretraining's test
// (tests/train/test_trainer.cpp) also requires it.
const std::regex kDivergedMessage(
    R"(^training diverged: the (loss|gradient norm) is \S+ at step \d+; )"
    R"((the last good checkpoint \S+ is kept|no checkpoint was written yet)\. Lower --lr \(now )");

}  // namespace

TEST(Lora, AdapterGradientsMatchFiniteDifferences) {
  Fixture f = make_fixture("lora");
  LoadedModel loaded = load_model_dir(f.base);
  Model& model = *loaded.model;
  LoraAdapter lora(model, 2, 4.0f, {"q_proj", "down_proj"}, 3);
  Rng rng(5);
  for (std::size_t i = 0; i < lora.size(); ++i)
    lora.params()[i] = static_cast<float>(rng.normal() * 0.3);
  const int B = 2, T = 12;
  std::vector<std::int32_t> tokens(B * T), targets(B * T);
  for (int i = 0; i < B * T; ++i) {
    tokens[i] = static_cast<std::int32_t>(rng.below(f.config.vocab_size));
    targets[i] = i % 3 == 0 ? -1 : static_cast<std::int32_t>(rng.below(f.config.vocab_size));
  }
  model.reserve(B, T);
  lora.apply();
  model.zero_grad();
  model.forward_backward(tokens.data(), targets.data(), B, T);
  lora.gather_gradients();
  int checked = 0;
  for (std::size_t i = 0; i < lora.size(); i += lora.size() / 23) {
    const float keep = lora.params()[i];
    const float eps = 1e-2f;
    lora.params()[i] = keep + eps;
    lora.apply();
    const double up = model.forward_loss(tokens.data(), targets.data(), B, T);
    lora.params()[i] = keep - eps;
    lora.apply();
    const double down = model.forward_loss(tokens.data(), targets.data(), B, T);
    lora.params()[i] = keep;
    const double numeric = (up - down) / (2 * eps);
    EXPECT_NEAR(lora.grads()[i], numeric, 2e-3 + 2e-2 * std::abs(numeric)) << "param " << i;
    ++checked;
  }
  EXPECT_GE(checked, 20);
  fs::remove_all(f.dir);
}

TEST(Sft, LearnsTheAssistantReplyAndResumesExactly) {
  Fixture f = make_fixture("full");
  SftOptions o;
  o.base = f.base;
  o.data = f.dir / "chats.jsonl";
  o.out_dir = f.dir / "run1";
  o.batch_size = 2;
  o.seq_len = 32;
  o.steps = 16;
  o.lr = 1e-2f;
  o.checkpoint_every = 8;
  o.progress = false;
  SftResult r = run_sft(o);
  ASSERT_EQ(r.curve.size(), 16u);
  EXPECT_LT(r.final_loss, 0.5f * r.curve.front().second);
  EXPECT_EQ(r.data.conversations, 12);
  // The fine-tuned model answers as taught: greedy decoding of the question
  // in the chat format gives the trained reply (the random base does not).
  LoadedModel tuned = load_model_dir(o.out_dir);
  EXPECT_EQ(tuned.model->config(), f.config);
  const Conversation question = {{Role::kUser, "What is the capital?"}};
  GenerateOptions greedy;
  greedy.temperature = 0;
  greedy.max_tokens = 16;
  ModelTextGenerator tuned_gen(*tuned.model, tuned.tokenizer);
  EXPECT_EQ(tuned_gen.run_tokens(chat_prompt_tokens(tuned.tokenizer, question), greedy).text,
            "The capital is Orin.");
  LoadedModel base = load_model_dir(f.base);
  ModelTextGenerator base_gen(*base.model, base.tokenizer);
  EXPECT_NE(base_gen.run_tokens(chat_prompt_tokens(base.tokenizer, question), greedy).text,
            "The capital is Orin.");

  // Interrupted run: same options, drop the final checkpoint, resume.
  SftOptions o2 = o;
  o2.out_dir = f.dir / "run2";
  run_sft(o2);
  fs::remove_all(o2.out_dir / "checkpoints" / "step-16");
  o2.resume = true;
  run_sft(o2);
  EXPECT_EQ(metric_lines(o.out_dir), metric_lines(o2.out_dir));
  // A resume with another setting is refused, naming the flag.
  o2.lr = 2e-2f;
  try {
    run_sft(o2);
    ADD_FAILURE() << "resumed with another --lr";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--lr: the run used"), std::string::npos) << e.what();
  }
  o2.lr = o.lr;
  // A second run into the same directory without --resume is refused.
  o2.resume = false;
  EXPECT_THROW(run_sft(o2), InputError);
  fs::remove_all(f.dir);
}

TEST(Sft, LoraTrainsAdaptersAndWritesMergedModel) {
  Fixture f = make_fixture("lorarun");
  SftOptions o;
  o.base = f.base;
  o.data = f.dir / "chats.jsonl";
  o.out_dir = f.dir / "run";
  o.batch_size = 2;
  o.seq_len = 32;
  o.steps = 20;
  o.lr = 1e-2f;
  o.lora_rank = 4;
  o.lora_targets = {"q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"};
  o.lora_alpha = 8;
  o.progress = false;
  SftResult r = run_sft(o);
  // Adapters on a random-init base learn slowly; they must still clearly learn.
  EXPECT_LT(r.final_loss, r.curve.front().second - 0.1f);
  EXPECT_TRUE(fs::exists(r.last_checkpoint / "lora.safetensors"));
  LoadedModel merged = load_model_dir(r.last_checkpoint);
  LoadedModel base = load_model_dir(f.base);
  // Only targeted weights moved (gate_proj is not a target).
  const auto& q = merged.model->param("model.layers.0.self_attn.q_proj.weight");
  const auto& q0 = base.model->param("model.layers.0.self_attn.q_proj.weight");
  const auto& g = merged.model->param("model.layers.0.mlp.gate_proj.weight");
  const auto& g0 = base.model->param("model.layers.0.mlp.gate_proj.weight");
  double dq = 0, dg = 0;
  for (std::size_t i = 0; i < q.numel; ++i) dq += std::abs(q.data[i] - q0.data[i]);
  for (std::size_t i = 0; i < g.numel; ++i) dg += std::abs(g.data[i] - g0.data[i]);
  EXPECT_GT(dq, 0.0);
  EXPECT_EQ(dg, 0.0);
  SftOptions bad = o;
  bad.out_dir = f.dir / "bad";
  bad.lora_targets = {"wizard_proj"};
  EXPECT_THROW(run_sft(bad), InputError);
  EXPECT_FALSE(fs::exists(bad.out_dir / "checkpoints"));
  fs::remove_all(f.dir);
}

TEST(Sft, MetricsCarryExactLossHex) {
  Fixture f = make_fixture("hex");
  const SftOptions o = tiny_sft(f, "run");
  const SftResult r = run_sft(o);
  std::ifstream in(o.out_dir / "metrics.jsonl");
  std::string line;
  std::size_t lines = 0;
  while (std::getline(in, line)) {
    const Json j = Json::parse(line);
    ASSERT_TRUE(j.contains("loss_hex")) << line;
    // loss_hex is the float32 loss exactly (C %a), the same field as pretraining's.
    const float hex = std::strtof(j.at("loss_hex").get<std::string>().c_str(), nullptr);
    EXPECT_EQ(hex, j.at("loss").get<float>()) << line;
    EXPECT_EQ(hex, r.curve.at(lines).second);
    for (const char* key : {"lr", "grad_norm", "tokens", "step_seconds", "tok_per_s"}) {
      EXPECT_TRUE(j.contains(key)) << key << " missing in " << line;
    }
    ++lines;
  }
  EXPECT_EQ(lines, 8u);
  fs::remove_all(f.dir);
}

TEST(Sft, LoraResumeIsBitExact) {
  Fixture f = make_fixture("lorares");
  SftOptions o = tiny_sft(f, "full");
  o.lora_rank = 2;
  o.grad_accum = 2;
  o.checkpoint_every = 3;
  run_sft(o);
  SftOptions split = o;
  split.out_dir = f.dir / "split";
  // Interrupted after step 5 (the callback's exception stands in for a kill):
  // the step-3 checkpoint is the newest, metrics run to step 5.
  EXPECT_THROW(run_sft(split,
                       [](std::int64_t step, float) {
                         if (step == 5) throw std::runtime_error("interrupted");
                       }),
               std::runtime_error);
  EXPECT_EQ(list_checkpoints(split.out_dir).front().step, 3);
  split.resume = true;
  const SftResult resumed = run_sft(split);
  EXPECT_EQ(resumed.curve.front().first, 4) << "resumed from the step-3 checkpoint";
  EXPECT_EQ(metric_hex(o.out_dir), metric_hex(split.out_dir));
  EXPECT_TRUE(read_file(o.out_dir / "checkpoints/step-8/lora.safetensors") ==
              read_file(split.out_dir / "checkpoints/step-8/lora.safetensors"));
  EXPECT_TRUE(read_file(o.out_dir / "checkpoints/step-8/model.safetensors") ==
              read_file(split.out_dir / "checkpoints/step-8/model.safetensors"));
  // Resuming a finished run is refused with what to do instead.
  try {
    run_sft(split);
    FAIL() << "resuming a complete run must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("already at step 8"), std::string::npos) << e.what();
  }
  fs::remove_all(f.dir);
}

TEST(Sft, RefusesASecondRunInTheSameRunDir) {
  Fixture f = make_fixture("lock");
  const SftOptions o = tiny_sft(f, "run");
  // A second SFT into the RUN_DIR while the first is training.
  std::string refused;
  const SftResult r = run_sft(o, [&](std::int64_t step, float) {
    if (step != 2) return;
    SftOptions second = o;
    second.resume = true;
    try {
      run_sft(second);
    } catch (const InputError& e) {
      refused = e.what();
    }
  });
  EXPECT_NE(refused.find("another training run"), std::string::npos) << refused;
  EXPECT_EQ(r.steps_done, 8) << "the first run is unaffected";

  // The same with the lock held by someone else (as another process would):
  // refused before anything is written.
  const fs::path run = f.dir / "held";
  fs::create_directories(run);
  const int fd = ::open((run / "train.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  SftOptions held = o;
  held.out_dir = run;
  EXPECT_THROW(run_sft(held), InputError);
  ::close(fd);
  EXPECT_FALSE(fs::exists(run / "run.json"));
  EXPECT_FALSE(fs::exists(run / "metrics.jsonl"));
  EXPECT_FALSE(fs::exists(run / "checkpoints"));
  fs::remove_all(f.dir);
}

TEST(Sft, DivergenceMessageMatchesPretraining) {
  Fixture f = make_fixture("nan");
  for (const int rank : {0, 2}) {
    SftOptions o = tiny_sft(f, rank ? "nan_lora" : "nan_full");
    o.steps = 20;
    o.lora_rank = rank;
    o.schedule = "constant";
    o.warmup_steps = 0;
    o.grad_clip = 0;
    o.checkpoint_every = 1;
    o.lr = 1e30f;  // the weights explode after the first update
    try {
      run_sft(o);
      FAIL() << "a non-finite loss must stop SFT (rank " << rank << ")";
    } catch (const NumericError& e) {
      EXPECT_TRUE(std::regex_search(e.what(), kDivergedMessage)) << e.what();
      EXPECT_NE(std::string(e.what()).find("is kept"), std::string::npos) << e.what();
    }
    // The last good checkpoint is complete and loads.
    const auto checkpoints = list_checkpoints(o.out_dir);
    ASSERT_FALSE(checkpoints.empty());
    EXPECT_NO_THROW(load_model_dir(o.out_dir));
  }
  fs::remove_all(f.dir);
}
