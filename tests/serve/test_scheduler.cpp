// The continuous-batching scheduler: jobs decoded together (more jobs than
// slots, joining between steps) give exactly the tokens and text of
// ModelTextGenerator decoding each alone; a cancelled channel and a passed
// deadline free their slot; a full queue is refused with 503; steering one
// job (batch_row) leaves the others untouched and equals a steered single
// run with `--steer-positions response` semantics (the reply's rows and the
// last prompt row, whose logits pick the first reply token; also at the
// embedding); monitoring streams one projection per token;
// the prompt cache reuses a slot's longest common prefix (never positions a
// steered job changed) with the same result as a fresh prefill; chat jobs
// end at role tokens, which raw completions would print; prompts that join
// in chunks while others decode (chunked prefill) give the same results.
#include <gtest/gtest.h>

#include <cmath>

#include "../infer/tiny_world.h"
#include "infer/model_generator.h"
#include "serve/api_error.h"
#include "serve/scheduler.h"

using namespace masque;
using namespace masque::serve;

namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world_ = new test_world::TinyWorld(test_world::make_tiny_world("serve_scheduler"));
    world_->config.max_position_embeddings = 128;
    model_ = new Model(world_->config);
    model_->init_weights(31);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(world_->dir);
    delete model_;
    delete world_;
  }
  struct Collected {
    std::string text;
    int tokens = 0;
    std::vector<std::vector<float>> projections;
    StreamEvent final;
  };
  static Collected collect(Channel& channel) {
    Collected c;
    while (true) {
      auto e = channel.pop(std::chrono::milliseconds(20000));
      if (!e) {
        ADD_FAILURE() << "no event within 20 s";
        return c;
      }
      c.text += e->text;
      c.tokens += e->new_tokens;
      if (!e->projections.empty()) c.projections.push_back(e->projections);
      if (e->final) {
        c.final = *e;
        return c;
      }
    }
  }
  static Job job_for(const std::string& prompt, int max_tokens, float temperature,
                     std::uint64_t seed) {
    ModelTextGenerator gen(*model_, world_->tokenizer);
    Job job;
    job.prompt = gen.encode_prompt(prompt);
    job.options.max_tokens = max_tokens;
    job.options.temperature = temperature;
    job.options.top_k = 20;
    job.options.seed = seed;
    return job;
  }
  static test_world::TinyWorld* world_;
  static Model* model_;
};
test_world::TinyWorld* SchedulerTest::world_ = nullptr;
Model* SchedulerTest::model_ = nullptr;

const std::vector<std::string> kPrompts = {
    "Ada likes",     "Bo sees the old tree. Cy",
    "Dee",           "Cy helps a red ball. Ada finds some tea. Bo",
    "the cat",       "Bo likes the cat. Dee sees",
    "Ada helps some"};

TEST_F(SchedulerTest, BatchedJobsEqualSequentialGeneration) {
  // step_rows 4: prompts that join while others decode go in chunks of 8.
  for (const auto& [temperature, step_rows] :
       std::vector<std::pair<float, int>>{{0.0f, 32}, {0.9f, 32}, {0.0f, 4}, {0.9f, 4}}) {
    SCOPED_TRACE(testing::Message() << "step_rows " << step_rows);
    // Fewer slots than jobs.
    Scheduler scheduler(*model_, world_->tokenizer, {3, 16, 0, step_rows});
    std::vector<Job> jobs;
    std::vector<std::shared_ptr<Channel>> channels;
    for (std::size_t i = 0; i < kPrompts.size(); ++i) {
      jobs.push_back(job_for(kPrompts[i], 6 + 3 * static_cast<int>(i), temperature, 50 + i));
      if (i == 2) jobs.back().options.stop = {"the"};
      channels.push_back(scheduler.submit(jobs.back()));
    }
    ModelTextGenerator gen(*model_, world_->tokenizer);
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      const Collected got = collect(*channels[i]);
      const GenerationResult alone = gen.run_tokens(jobs[i].prompt, jobs[i].options);
      EXPECT_EQ(got.text, alone.text) << "job " << i << " at temperature " << temperature;
      EXPECT_EQ(got.final.finish_reason, alone.finish_reason) << "job " << i;
      EXPECT_EQ(got.final.completion_tokens, static_cast<int>(alone.tokens.size()));
      EXPECT_EQ(got.tokens, static_cast<int>(alone.tokens.size()));
      EXPECT_EQ(got.final.prompt_tokens, static_cast<int>(jobs[i].prompt.size()));
    }
  }
}

TEST_F(SchedulerTest, CancelledAndTimedOutJobsFreeTheirSlot) {
  Scheduler scheduler(*model_, world_->tokenizer, {1, 4, 0});
  Job slow = job_for("Ada likes", 100, 0.9f, 1);
  slow.options.ignore_eos = true;
  auto first = scheduler.submit(slow);
  // Cancelled at once: waiting for its first token first let this tiny model
  // decode all 100 tokens before the cancel landed once decoding got faster.
  first->cancel();
  Job next = job_for("Bo sees", 4, 0.0f, 2);
  const Collected done = collect(*scheduler.submit(next));
  EXPECT_TRUE(done.final.finish_reason == "stop" || done.final.finish_reason == "length");
  EXPECT_EQ(collect(*first).final.finish_reason, "cancelled");
  Job late = job_for("Dee", 100, 0.9f, 3);
  late.options.ignore_eos = true;
  late.deadline = Clock::now() - std::chrono::milliseconds(1);  // expired before a slot took it
  EXPECT_EQ(collect(*scheduler.submit(late)).final.finish_reason, "timeout");
  EXPECT_EQ(scheduler.active(), 0);
}

TEST_F(SchedulerTest, FullQueueIsRefusedWith503) {
  Scheduler scheduler(*model_, world_->tokenizer, {1, 1, 0});
  Job long_job = job_for("Ada likes", 100, 0.9f, 1);
  long_job.options.ignore_eos = true;
  std::vector<std::shared_ptr<Channel>> accepted;
  int refused = 0;
  for (int i = 0; i < 4; ++i) {
    try {
      accepted.push_back(scheduler.submit(long_job));
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 503);
      ++refused;
    }
  }
  EXPECT_EQ(accepted.size(), 2u);  // one slot + one queue place
  EXPECT_EQ(refused, 2);
  for (auto& c : accepted) c->cancel();
  scheduler.stop(std::chrono::milliseconds(0));
  EXPECT_THROW(scheduler.submit(long_job), ApiError);
}

TEST_F(SchedulerTest, OversizedJobsAreRefusedWith400) {
  Scheduler scheduler(*model_, world_->tokenizer, {1, 1, 0});
  Job job = job_for("Ada likes", 127, 0.0f, 1);
  try {
    scheduler.submit(job);
    ADD_FAILURE() << "a job past the context was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
  }
  job.options.max_tokens = 4;
  job.prompt.push_back(world_->config.vocab_size);  // outside the vocabulary
  EXPECT_THROW(scheduler.submit(job), ApiError);
}

TEST_F(SchedulerTest, SteeringOneJobLeavesOthersAndEqualsASteeredSingleRun) {
  const int hidden = world_->config.hidden_size;
  auto direction = std::make_shared<std::vector<float>>(hidden);
  for (int d = 0; d < hidden; ++d) (*direction)[d] = std::sin(0.7f * d + 1.0f);
  const float coefficient = 8.0f;
  const int layer = 0;  // resid_post after block 1

  Scheduler scheduler(*model_, world_->tokenizer, {4, 4, 0});
  Job plain = job_for("Ada likes", 12, 0.0f, 1);
  Job steered = job_for("Ada likes", 12, 0.0f, 1);
  steered.steer.push_back({layer, direction, coefficient});
  auto unit = std::make_shared<std::vector<float>>(*direction);
  double norm = 0;
  for (float x : *unit) norm += double(x) * x;
  for (float& x : *unit) x = static_cast<float>(x / std::sqrt(norm));
  steered.monitor.push_back({layer, unit});
  plain.options.ignore_eos = steered.options.ignore_eos = true;
  auto c_plain = scheduler.submit(plain);
  auto c_steered = scheduler.submit(steered);
  const Collected got_plain = collect(*c_plain);
  const Collected got_steered = collect(*c_steered);

  ModelTextGenerator gen(*model_, world_->tokenizer);
  EXPECT_EQ(got_plain.text, gen.run_tokens(plain.prompt, plain.options).text);
  Interventions iv;
  Intervention add;
  add.layer = layer;
  add.kind = InterventionKind::kAdd;
  add.vector = *direction;
  add.alpha = coefficient;
  add.scope = PositionScope::kGeneration;  // --steer-positions response
  iv.add(add, world_->config.num_hidden_layers, hidden);
  const GenerationResult alone = gen.run_tokens(steered.prompt, steered.options, {}, &iv);
  EXPECT_EQ(got_steered.text, alone.text);
  EXPECT_NE(got_steered.text, got_plain.text) << "steering by 8 should change the reply";
  // One projection per sampled token, each finite.
  EXPECT_EQ(static_cast<int>(got_steered.projections.size()), got_steered.tokens);
  for (const auto& p : got_steered.projections) {
    ASSERT_EQ(p.size(), 1u);
    EXPECT_TRUE(std::isfinite(p[0]));
  }
}

TEST_F(SchedulerTest, APromptJoiningInChunksIsSteeredAndDecodedLikeAWholeOne) {
  // One slot decodes, so with step_rows 4 the second job's prompt joins in
  // chunks of 8; its last chunk holds the steered last prompt row.
  const int hidden = world_->config.hidden_size;
  auto direction = std::make_shared<std::vector<float>>(hidden);
  for (int d = 0; d < hidden; ++d) (*direction)[d] = std::cos(0.9f * d + 0.5f);
  Scheduler scheduler(*model_, world_->tokenizer, {2, 4, 0, 4});
  Job plain = job_for("Ada likes", 100, 0.0f, 1);
  plain.options.ignore_eos = true;
  Job steered = job_for(kPrompts[3] + " " + kPrompts[1], 10, 0.0f, 1);
  steered.options.ignore_eos = true;
  ASSERT_GT(steered.prompt.size(), 16u) << "the prompt should take three chunks";
  steered.steer.push_back({0, direction, 2.0f});
  auto c_plain = scheduler.submit(plain);
  auto first = c_plain->pop(std::chrono::milliseconds(20000));  // plain is decoding now
  ASSERT_TRUE(first);
  const Collected got_steered = collect(*scheduler.submit(steered));
  Collected got_plain = collect(*c_plain);
  got_plain.text = first->text + got_plain.text;

  ModelTextGenerator gen(*model_, world_->tokenizer);
  EXPECT_EQ(got_plain.text, gen.run_tokens(plain.prompt, plain.options).text);
  Interventions iv;
  Intervention add;
  add.layer = 0;
  add.kind = InterventionKind::kAdd;
  add.vector = *direction;
  add.alpha = 2.0f;
  add.scope = PositionScope::kGeneration;  // --steer-positions response
  iv.add(add, world_->config.num_hidden_layers, hidden);
  EXPECT_EQ(got_steered.text, gen.run_tokens(steered.prompt, steered.options, {}, &iv).text);
  EXPECT_NE(got_steered.text, gen.run_tokens(steered.prompt, steered.options).text)
      << "steering by 2 should change the reply";
  // The last prompt row is steered too: steering only the reply differs.
  Interventions reply_only;
  add.scope = PositionScope::kResponse;
  reply_only.add(add, world_->config.num_hidden_layers, hidden);
  EXPECT_NE(got_steered.text,
            gen.run_tokens(steered.prompt, steered.options, {}, &reply_only).text);
}

namespace {

std::vector<std::int32_t> concat(std::vector<std::int32_t> a, const std::vector<std::int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_F(SchedulerTest, PromptCacheReusesTheLongestPrefixLikeAFreshPrefill) {
  Scheduler scheduler(*model_, world_->tokenizer, {2, 4, 0});
  ModelTextGenerator gen(*model_, world_->tokenizer);
  Job first = job_for("Bo sees the old tree. Cy", 6, 0.0f, 1);
  first.options.ignore_eos = true;
  EXPECT_EQ(collect(*scheduler.submit(first)).final.cached_tokens, 0);
  // A follow-up turn: the first prompt, its reply, then new text.
  const GenerationResult reply = gen.run_tokens(first.prompt, first.options);
  std::vector<std::int32_t> more;
  for (std::uint32_t id : world_->tokenizer.encode(" Dee sees")) more.push_back(id);
  Job next = first;
  next.prompt = concat(concat(first.prompt, reply.tokens), more);
  const Collected got = collect(*scheduler.submit(next));
  // The reply's last token was sampled but never fed, so it is not cached.
  EXPECT_EQ(got.final.cached_tokens,
            static_cast<int>(first.prompt.size() + reply.tokens.size()) - 1);
  EXPECT_EQ(got.text, gen.run_tokens(next.prompt, next.options).text);
  // The same prompt again: all but its last token come from the cache.
  const Collected again = collect(*scheduler.submit(next));
  EXPECT_EQ(again.final.cached_tokens, static_cast<int>(next.prompt.size()) - 1);
  EXPECT_EQ(again.text, got.text);

  // A steered job's reply positions are not reused: they hold steered values.
  const int hidden = world_->config.hidden_size;
  auto direction = std::make_shared<std::vector<float>>(hidden);
  for (int d = 0; d < hidden; ++d) (*direction)[d] = std::cos(0.3f * d);
  Job steered = next;
  steered.steer.push_back({0, direction, 8.0f});
  const Collected got_steered = collect(*scheduler.submit(steered));
  Interventions iv;
  Intervention add;
  add.layer = 0;
  add.kind = InterventionKind::kAdd;
  add.vector = *direction;
  add.alpha = 8.0f;
  add.scope = PositionScope::kGeneration;  // --steer-positions response
  iv.add(add, world_->config.num_hidden_layers, hidden);
  const GenerationResult steered_alone = gen.run_tokens(steered.prompt, steered.options, {}, &iv);
  EXPECT_EQ(got_steered.text, steered_alone.text);
  Job after = next;
  after.prompt = concat(concat(steered.prompt, steered_alone.tokens), more);
  const Collected got_after = collect(*scheduler.submit(after));
  // Its last prompt row was steered too (it picks the first reply token).
  EXPECT_LE(got_after.final.cached_tokens, static_cast<int>(steered.prompt.size()) - 1);
  EXPECT_EQ(got_after.text, gen.run_tokens(after.prompt, after.options).text);
}

TEST_F(SchedulerTest, SteeringTheEmbeddingEqualsASteeredSingleRun) {
  const int hidden = world_->config.hidden_size;
  auto direction = std::make_shared<std::vector<float>>(hidden);
  for (int d = 0; d < hidden; ++d) (*direction)[d] = std::sin(1.3f * d);
  Scheduler scheduler(*model_, world_->tokenizer, {2, 4, 0});
  Job plain = job_for("Ada likes", 10, 0.0f, 1);
  plain.options.ignore_eos = true;
  Job steered = plain;
  steered.steer.push_back({-1, direction, 6.0f});  // -1: the token embedding
  auto c_steered = scheduler.submit(steered);
  auto c_plain = scheduler.submit(plain);
  const Collected got_steered = collect(*c_steered);
  const Collected got_plain = collect(*c_plain);
  ModelTextGenerator gen(*model_, world_->tokenizer);
  Interventions iv;
  Intervention add;
  add.site = InterventionSite::kEmbed;
  add.kind = InterventionKind::kAdd;
  add.vector = *direction;
  add.alpha = 6.0f;
  add.scope = PositionScope::kGeneration;  // --steer-positions response
  iv.add(add, world_->config.num_hidden_layers, hidden);
  EXPECT_EQ(got_steered.text, gen.run_tokens(steered.prompt, steered.options, {}, &iv).text);
  EXPECT_EQ(got_plain.text, gen.run_tokens(plain.prompt, plain.options).text);
  EXPECT_NE(got_steered.text, got_plain.text) << "steering the embedding by 6 should change it";
}

TEST_F(SchedulerTest, ChatJobsEndAtRoleTokens) {
  // Steering the last residual hard toward <|user|>'s (tied) embedding row
  // makes the model sample <|user|> from the first reply token on (the last prompt row is steered
  // too).
  const ModelConfig& cfg = world_->config;
  const auto user = world_->tokenizer.special_id(kUserToken);
  ASSERT_TRUE(user);
  std::vector<float> embed(static_cast<std::size_t>(cfg.vocab_size) * cfg.hidden_size);
  model_->read_param(model_->param("model.embed_tokens.weight"), embed.data());
  auto direction = std::make_shared<std::vector<float>>(
      embed.begin() + static_cast<std::ptrdiff_t>(*user) * cfg.hidden_size,
      embed.begin() + static_cast<std::ptrdiff_t>(*user + 1) * cfg.hidden_size);
  Scheduler scheduler(*model_, world_->tokenizer, {2, 4, 0});
  Job raw = job_for("Ada likes", 6, 0.0f, 1);
  raw.steer.push_back({cfg.num_hidden_layers - 1, direction, 2000.0f});
  Job chat = raw;
  chat.chat = true;
  const Collected got_raw = collect(*scheduler.submit(raw));
  const Collected got_chat = collect(*scheduler.submit(chat));
  ASSERT_NE(got_raw.text.find("<|user|>"), std::string::npos)
      << "the steering should make the model emit <|user|>: " << got_raw.text;
  EXPECT_EQ(got_chat.text.find("<|"), std::string::npos) << got_chat.text;
  EXPECT_EQ(got_chat.final.finish_reason, "stop");
  EXPECT_LE(got_chat.final.completion_tokens, 1);
}

}  // namespace
