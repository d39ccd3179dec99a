// tokenizer.json post-processors and added-token stripping: masque's own
// files carry TemplateProcessing "<|bos|> $A" (so HF adds the BOS masque's
// prompts start with), templates and lstrip/rstrip survive a save/load, and
// post-processors masque does not implement are refused by name.
// tests/python/test_tokenizer_postprocess.py checks the ids against HF.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/json_util.h"
#include "test_helpers.h"
#include "tokenizer/tokenizer.h"

namespace masque {
namespace {

class PostProcessorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto dir = test::scratch_dir("post");
    tokenizer_ = new Tokenizer(test::train_small(test::write_corpus(dir, 200)));
  }
  static void TearDownTestSuite() { delete tokenizer_; }
  static Json json() { return parse_json(tokenizer_->to_json_text(), "tokenizer"); }
  static std::string load_error(const Json& j) {
    try {
      Tokenizer::from_json_text(j.dump(), "edited.json");
    } catch (const FormatError& e) {
      return e.what();
    }
    return "";
  }
  static Tokenizer* tokenizer_;
};
Tokenizer* PostProcessorTest::tokenizer_ = nullptr;

TEST_F(PostProcessorTest, MasqueTokenizersAddBosThroughTheirTemplate) {
  const Tokenizer& tok = *tokenizer_;
  const std::vector<std::uint32_t> body = tok.encode_with_specials("the fox");
  std::vector<std::uint32_t> expected{tok.bos_id()};
  expected.insert(expected.end(), body.begin(), body.end());
  EXPECT_EQ(tok.encode_for_model("the fox"), expected);
  const Json j = json();
  EXPECT_EQ(j["post_processor"]["type"], "TemplateProcessing");
  EXPECT_EQ(j["post_processor"]["single"][0]["SpecialToken"]["id"], "<|bos|>");
  // Without a post-processor nothing is added, as in HF.
  Json bare = j;
  bare["post_processor"] = nullptr;
  const Tokenizer plain = Tokenizer::from_json_text(bare.dump(), "bare");
  EXPECT_EQ(plain.encode_for_model("the fox"), body);
}

TEST_F(PostProcessorTest, TemplatesAndStrippingSurviveSaveAndLoad) {
  Json j = json();
  const std::uint32_t bos = tokenizer_->bos_id(), eos = tokenizer_->eos_id();
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}, {"trim_offsets", false}},
        {{"type", "TemplateProcessing"},
         {"single",
          {{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
           {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
           {{"SpecialToken", {{"id", "<|eos|>"}, {"type_id", 0}}}}}},
         {"special_tokens",
          {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {bos}}, {"tokens", {"<|bos|>"}}}},
           {"<|eos|>", {{"id", "<|eos|>"}, {"ids", {eos}}, {"tokens", {"<|eos|>"}}}}}}}}}};
  for (Json& t : j["added_tokens"]) {
    if (t["content"] == "<|user|>") t["lstrip"] = true;
    if (t["content"] == "<|end|>") t["rstrip"] = true;
  }
  const Tokenizer tok = Tokenizer::from_json_text(j.dump(), "edited.json");
  const std::uint32_t user = *tok.special_id("<|user|>"), end = *tok.special_id("<|end|>");
  const std::vector<std::uint32_t> fox = tok.encode("the fox");
  // "the fox  \t<|user|>" : the whitespace before <|user|> goes with it.
  std::vector<std::uint32_t> expected{bos};
  expected.insert(expected.end(), fox.begin(), fox.end());
  expected.push_back(user);
  expected.push_back(end);
  expected.insert(expected.end(), fox.begin(), fox.end());
  expected.push_back(eos);
  EXPECT_EQ(tok.encode_for_model("the fox  \t<|user|><|end|> \n the fox"), expected);
  const Tokenizer again = Tokenizer::from_json_text(tok.to_json_text(), "again");
  EXPECT_EQ(again.to_json_text(), tok.to_json_text());
  EXPECT_EQ(again.encode_for_model("a <|user|> b<|end|>  c"),
            tok.encode_for_model("a <|user|> b<|end|>  c"));
}

TEST_F(PostProcessorTest, UnsupportedPostProcessorsAreRefusedByName) {
  Json j = json();
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"<|eos|>", 1}}, {"cls", {"x", 2}}};
  EXPECT_NE(load_error(j).find("post_processor \"BertProcessing\""), std::string::npos);
  j = json();
  j["post_processor"]["single"] = Json::array({j["post_processor"]["single"][0]});
  EXPECT_NE(load_error(j).find("has no $A"), std::string::npos);
  j = json();
  j["post_processor"]["special_tokens"] = Json::object();
  EXPECT_NE(load_error(j).find("special_tokens map does not define"), std::string::npos);
}

}  // namespace
}  // namespace masque
