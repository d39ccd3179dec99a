// The streamed chunk fast path (ChunkFormatter, append_json_string) writes
// exactly the bytes of the nlohmann path it replaces, for text with quotes,
// backslashes, control characters, DEL, non-ASCII and invalid UTF-8, for
// chat and completion chunks; usage carries the prompt cache's tokens.
#include <gtest/gtest.h>

#include <random>

#include "serve/openai_json.h"

using namespace masque;
using namespace masque::serve;

namespace {

TEST(ChunkFormatter, EqualsTheJsonOfChunkJson) {
  std::vector<std::string> texts = {"a",
                                    " the",
                                    "\"quoted\" \\ back",
                                    "line\nnew",
                                    "tab\tcr\rbs\b",
                                    std::string("nul\0x", 5),
                                    "\x01\x1f\x7f",
                                    "caf\xc3\xa9 \xe6\x97\xa5",
                                    "\xff\xfe bad",
                                    "cut \xe6\x97",
                                    "<|end|>"};
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) {
    std::string t(1 + rng() % 12, ' ');
    for (char& c : t) c = static_cast<char>(rng() % 256);
    texts.push_back(t);
  }
  for (Endpoint endpoint : {Endpoint::kChat, Endpoint::kCompletion}) {
    ResponseHeader h;
    h.endpoint = endpoint;
    h.id = new_response_id(endpoint);
    h.created = 1700000000;
    h.model = "model \"x\" \xc3\xa9";
    const ChunkFormatter fast(h);
    for (const std::string& text : texts) {
      std::string got;
      fast.append(got, text);
      EXPECT_EQ(got, "data: " + dump_json(chunk_json(h, text, "", false)) + "\n\n");
      std::string literal;
      append_json_string(literal, text);
      EXPECT_EQ(literal, dump_json(Json(text)));
    }
  }
}

TEST(OpenAiJson, UsageReportsCachedPromptTokens) {
  const Json u = usage_json(10, 5, 7);
  EXPECT_EQ(u["total_tokens"], 15);
  EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], 7);
}

}  // namespace
