// Prompts longer than the context (issue 16, item 10): the generator keeps
// <|bos|> and the role token of the first turn it keeps, then the newest
// tokens (docs/chat-format.md, "Prompts longer than the context").
#include <gtest/gtest.h>

#include "core/threads.h"
#include "infer/model_generator.h"
#include "tiny_world.h"

using namespace masque;
namespace fs = std::filesystem;

namespace {

class PromptFit : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(1);
    world_ = new test_world::TinyWorld(test_world::make_tiny_world("prompt_fit"));
    model_ = new Model(world_->config);
    model_->init_weights(5);
  }
  static void TearDownTestSuite() {
    fs::remove_all(world_->dir);
    delete model_;
    delete world_;
    set_num_threads(0);
  }
  std::int32_t special(std::string_view token) const {
    return static_cast<std::int32_t>(*world_->tokenizer.special_id(token));
  }
  std::vector<std::int32_t> text(int count) const {
    // Ordinary tokens: ids below the special tokens at the end of the vocabulary.
    std::vector<std::int32_t> ids;
    for (int i = 0; i < count; ++i) ids.push_back(10 + i % 20);
    return ids;
  }
  static test_world::TinyWorld* world_;
  static Model* model_;
};
test_world::TinyWorld* PromptFit::world_ = nullptr;
Model* PromptFit::model_ = nullptr;

}  // namespace

TEST_F(PromptFit, LongChatPromptKeepsBosAndTheRoleOfTheFirstKeptTurn) {
  const int context = world_->config.max_position_embeddings;
  std::vector<std::int32_t> prompt = {special(kBosToken), special(kSystemToken)};
  for (auto id : text(context)) prompt.push_back(id);
  prompt.push_back(special(kEndTurnToken));
  prompt.push_back(special(kUserToken));
  for (auto id : text(context / 2)) prompt.push_back(id);
  prompt.push_back(special(kEndTurnToken));
  prompt.push_back(special(kAssistantToken));
  ASSERT_GT(static_cast<int>(prompt.size()), context);

  ModelTextGenerator gen(*model_, world_->tokenizer);
  GenerateOptions opts;
  opts.temperature = 0;
  opts.max_tokens = 4;
  const GenerationResult r = gen.run_tokens(prompt, opts);
  const auto& kept = r.prompt_tokens;
  ASSERT_EQ(static_cast<int>(kept.size()), context - opts.max_tokens);
  EXPECT_EQ(kept[0], special(kBosToken)) << "<|bos|> dropped";
  EXPECT_EQ(kept[1], special(kSystemToken)) << "the kept system turn lost its role token";
  EXPECT_EQ(kept.back(), special(kAssistantToken));
  // The rest is the newest tokens of the original prompt.
  for (std::size_t i = 2; i < kept.size(); ++i) {
    EXPECT_EQ(kept[kept.size() - 1 - (i - 2)], prompt[prompt.size() - 1 - (i - 2)]);
  }
}

TEST_F(PromptFit, PlainTextPromptKeepsBos) {
  const int context = world_->config.max_position_embeddings;
  std::vector<std::int32_t> prompt = {special(kBosToken)};
  for (auto id : text(2 * context)) prompt.push_back(id);
  ModelTextGenerator gen(*model_, world_->tokenizer);
  GenerateOptions opts;
  opts.temperature = 0;
  opts.max_tokens = 3;
  const GenerationResult r = gen.run_tokens(prompt, opts);
  ASSERT_EQ(static_cast<int>(r.prompt_tokens.size()), context - opts.max_tokens);
  EXPECT_EQ(r.prompt_tokens[0], special(kBosToken));
  EXPECT_EQ(r.prompt_tokens.back(), prompt.back());
  EXPECT_EQ(r.prompt_tokens[1], prompt[prompt.size() - r.prompt_tokens.size() + 1]);
}
