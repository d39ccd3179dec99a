// ChatSession on a tiny random model: a five-turn chat prefills every token
// of the conversation exactly once (counted by the engine), each reply equals
// a fresh prefill of the whole conversation so far, and reset, a new
// system prompt and bad input behave.
#include <gtest/gtest.h>

#include "../infer/tiny_world.h"
#include "core/error.h"
#include "infer/model_generator.h"
#include "posttrain/chat_session.h"

using namespace masque;
namespace fs = std::filesystem;

namespace {

struct ChatFixture {
  ChatFixture() : world(test_world::make_tiny_world("chat_session")) {
    world.config.max_position_embeddings = 512;
    model = std::make_unique<Model>(world.config);
    model->init_weights(31);
  }
  ~ChatFixture() { fs::remove_all(world.dir); }
  test_world::TinyWorld world;
  std::unique_ptr<Model> model;
};

const char* kTurns[] = {"Ada likes the cat.", "Does Bo see the old tree?", "Cy helps.",
                        "Some tea for Dee?", "Bye."};

TEST(ChatSession, FiveTurnsPrefillEachTokenOnce) {
  ChatFixture f;
  ModelTextGenerator gen(*f.model, f.world.tokenizer);
  ChatSession chat(gen, "You are a helpful assistant.");
  GenerateOptions o;
  o.temperature = 0.8f;
  o.max_tokens = 12;
  std::vector<std::string> replies;
  for (int turn = 0; turn < 5; ++turn) {
    o.seed = static_cast<std::uint64_t>(turn);
    replies.push_back(chat.reply(kTurns[turn], o));
    // Every token the cache holds was forwarded exactly once: nothing was prefilled twice.
    EXPECT_EQ(gen.engine().tokens_forwarded(), chat.cache().length()) << "turn " << turn;
    const std::vector<std::int32_t>& history = chat.history_tokens();
    ASSERT_LE(static_cast<std::size_t>(chat.cache().length()), history.size());
    EXPECT_TRUE(
        std::equal(chat.cache().tokens().begin(), chat.cache().tokens().end(), history.begin()))
        << "the cache holds a prefix of the conversation's tokens";
    // The reply equals a fresh prefill of the whole conversation up to this turn's <|assistant|>.
    const auto assistant =
        static_cast<std::int32_t>(*f.world.tokenizer.special_id(kAssistantToken));
    const auto last = std::find(history.rbegin(), history.rend(), assistant);
    ASSERT_NE(last, history.rend());
    const std::vector<std::int32_t> prompt(history.begin(), last.base());
    ModelTextGenerator fresh(*f.model, f.world.tokenizer);
    EXPECT_EQ(fresh.run_tokens(prompt, o).text, replies.back()) << "turn " << turn;
  }
  EXPECT_EQ(chat.conversation().size(), 11u);  // system + 5 x (user, assistant)
}

TEST(ChatSession, ResetSystemPromptAndBadInput) {
  ChatFixture f;
  ModelTextGenerator gen(*f.model, f.world.tokenizer);
  ChatSession chat(gen, "");
  GenerateOptions o;
  o.temperature = 0;
  o.max_tokens = 6;
  const std::string first = chat.reply("Ada likes the cat.", o);
  chat.reset();
  EXPECT_TRUE(chat.conversation().empty());
  EXPECT_EQ(chat.reply("Ada likes the cat.", o), first)
      << "after reset the same prompt gives the same greedy reply";
  chat.set_system("Be brief.");
  ASSERT_EQ(chat.conversation().front().role, Role::kSystem);
  chat.reply("Bo?", o);
  EXPECT_THROW(chat.reply("", o), InputError);
  const std::size_t turns = chat.conversation().size();
  o.max_tokens = 100000;
  EXPECT_THROW(chat.reply("Cy?", o), InputError);
  EXPECT_EQ(chat.conversation().size(), turns) << "a refused turn leaves no trace";
}

TEST(ChatSession, LongChatsKeepWorkingPastTheContext) {
  ChatFixture f;
  f.world.config.max_position_embeddings = 64;
  Model small(f.world.config);
  small.init_weights(5);
  ModelTextGenerator gen(small, f.world.tokenizer);
  ChatSession chat(gen, "");
  GenerateOptions o;
  o.temperature = 0;
  o.max_tokens = 8;
  for (int turn = 0; turn < 8; ++turn)
    chat.reply(kTurns[turn % 5], o);  // left-truncates once past 64 tokens
  EXPECT_LE(chat.cache().length(), 64);
  EXPECT_GT(chat.history_tokens().size(), 64u);
}

}  // namespace
