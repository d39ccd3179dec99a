// Chat format: parsing/validation errors, rendering, SFT loss masks, packing.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "posttrain/chat_format.h"
#include "posttrain/sft_data.h"
#include "tokenizer/bpe_trainer.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {

const Tokenizer& test_tokenizer() {
  static Tokenizer tok = [] {
    fs::path dir = fs::temp_directory_path() / ("masque_chat_tok_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::string text;
    for (int i = 0; i < 200; ++i) {
      text += "Hello there, how are you today? I am fine, thank you. The river is long. ";
    }
    write_file_atomic(dir / "corpus.txt", text);
    BpeTrainOptions o;
    o.inputs = {(dir / "corpus.txt").string()};
    o.vocab_size = 300;
    o.progress = false;
    Tokenizer t = train_bpe(o);
    fs::remove_all(dir);
    return t;
  }();
  return tok;
}

Conversation parse(const std::string& text) {
  return conversation_from_json(Json::parse(text), "test");
}

}  // namespace

TEST(ChatFormat, RendersRolesAndGenerationPrompt) {
  Conversation c = parse(R"({"messages": [{"role": "system", "content": "Be kind."},
      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})");
  EXPECT_EQ(render_chat(c, false),
            "<|bos|><|system|>Be kind.<|end|><|user|>Hi<|end|><|assistant|>Hello<|end|>");
  c.pop_back();
  EXPECT_EQ(render_chat(c, true), "<|bos|><|system|>Be kind.<|end|><|user|>Hi<|end|><|assistant|>");
}

TEST(ChatFormat, RejectsMalformedMessagesNamingTheProblem) {
  auto expect_error = [](const std::string& text, const std::string& needle) {
    try {
      parse(text);
      FAIL() << "accepted: " << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(R"({"messages": [{"content": "x"}]})", "'role'");
  expect_error(R"({"messages": [{"role": "wizard", "content": "x"}]})", "unknown role 'wizard'");
  expect_error(R"({"messages": [{"role": "user", "content": ""}]})", "content is empty");
  expect_error(R"({"messages": [{"role": "user", "content": 5}]})", "must be a string");
  expect_error(R"({"messages": []})", "empty");
  expect_error(R"({"msgs": []})", "messages");
  expect_error(R"({"messages": [{"role": "user", "content": "a<|end|>b"}]})", "reserved token");
}

TEST(ChatFormat, LossMaskCoversOnlyAssistantReplies) {
  const Tokenizer& tok = test_tokenizer();
  Conversation c = parse(R"({"messages": [{"role": "user", "content": "how are you"},
      {"role": "assistant", "content": "I am fine"}, {"role": "user", "content": "the river"},
      {"role": "assistant", "content": "is long"}]})");
  ChatTokens t = tokenize_chat(tok, c);
  ASSERT_EQ(t.tokens.size(), t.targets.size());
  // Tokens equal the encoding of the rendered text with specials.
  std::vector<std::uint32_t> expect = tok.encode_with_specials(render_chat(c, false));
  ASSERT_EQ(t.tokens.size(), expect.size());
  for (std::size_t i = 0; i < expect.size(); ++i)
    EXPECT_EQ(t.tokens[i], static_cast<int>(expect[i]));
  // Targets: exactly the assistant content tokens + their <|end|>.
  const int n_reply1 = static_cast<int>(tok.encode("I am fine").size()) + 1;
  const int n_reply2 = static_cast<int>(tok.encode("is long").size()) + 1;
  EXPECT_EQ(t.assistant_tokens, n_reply1 + n_reply2);
  std::string supervised;
  for (std::size_t i = 0; i < t.targets.size(); ++i) {
    if (t.targets[i] >= 0) {
      EXPECT_EQ(t.targets[i], t.tokens[i + 1]);
      supervised +=
          tok.decode(std::vector<std::uint32_t>{static_cast<std::uint32_t>(t.targets[i])});
    }
  }
  EXPECT_EQ(supervised, "I am fine<|end|>is long<|end|>");
}

TEST(SftData, PacksTruncatesAndDropsByPolicy) {
  const Tokenizer& tok = test_tokenizer();
  std::vector<Conversation> convs = {
      parse(
          R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})"),
      parse(
          R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Fine"}]})"),
  };
  SftDataset d = pack_conversations(tok, convs, 64);
  EXPECT_EQ(d.stats.conversations, 2);
  EXPECT_EQ(d.stats.rows, 1);  // both fit in one row
  EXPECT_EQ(d.stats.truncated, 0);
  EXPECT_EQ(d.tokens.size(), 64u);
  int supervised = 0;
  for (auto t : d.targets) supervised += t >= 0;
  EXPECT_EQ(supervised, d.stats.assistant_tokens);
  // A long user turn: with a tiny context the reply is cut away -> dropped.
  std::string long_text;
  for (int i = 0; i < 50; ++i) long_text += "the river is long ";
  std::vector<Conversation> long_conv = {
      conversation_from_json(Json{{"messages",
                                   {{{"role", "user"}, {"content", long_text}},
                                    {{"role", "assistant"}, {"content", "ok"}}}}},
                             "t")};
  EXPECT_THROW(pack_conversations(tok, long_conv, 16), InputError);
  long_conv.push_back(convs[0]);
  SftDataset d2 = pack_conversations(tok, long_conv, 16);
  EXPECT_EQ(d2.stats.truncated, 1);
  EXPECT_EQ(d2.stats.dropped, 1);
  EXPECT_EQ(d2.stats.rows, 1);
}

TEST(SftData, JsonlErrorsNameTheLine) {
  fs::path dir = fs::temp_directory_path() / ("masque_sftdata_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_file_atomic(dir / "bad.jsonl",
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n\n{not json\n");
  try {
    read_conversations_jsonl(dir / "bad.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  write_file_atomic(dir / "empty.jsonl", "\n");
  EXPECT_THROW(read_conversations_jsonl(dir / "empty.jsonl"), InputError);
  EXPECT_THROW(read_conversations_jsonl(dir / "missing.jsonl"), InputError);
  fs::remove_all(dir);
}
