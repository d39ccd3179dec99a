// Tokenizer: training determinism, round trips on arbitrary bytes, special
// tokens, tokenizer.json load/save, the long-piece merge path, and bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "core/error.h"
#include "core/json_util.h"
#include "core/threads.h"
#include "test_helpers.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace masque {
namespace {

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(test::scratch_dir("tokenizer"));
    corpus_ = new std::filesystem::path(test::write_corpus(*dir_, 400));
    tok_ = new Tokenizer(test::train_small(*corpus_));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete tok_;
    delete corpus_;
    delete dir_;
  }
  static std::filesystem::path* dir_;
  static std::filesystem::path* corpus_;
  static Tokenizer* tok_;
};
std::filesystem::path* TokenizerTest::dir_ = nullptr;
std::filesystem::path* TokenizerTest::corpus_ = nullptr;
Tokenizer* TokenizerTest::tok_ = nullptr;

TEST_F(TokenizerTest, SpecialTokensAreLastInDeclaredOrder) {
  const Tokenizer& tok = *tok_;
  std::uint32_t v = tok.vocab_size();
  ASSERT_GT(v, 263u);
  EXPECT_EQ(tok.bos_id(), v - 7);
  EXPECT_EQ(tok.eos_id(), v - 6);
  EXPECT_EQ(tok.pad_id(), v - 5);
  EXPECT_EQ(*tok.special_id(kSystemToken), v - 4);
  EXPECT_EQ(*tok.special_id(kUserToken), v - 3);
  EXPECT_EQ(*tok.special_id(kAssistantToken), v - 2);
  EXPECT_EQ(*tok.special_id(kEndTurnToken), v - 1);
  EXPECT_TRUE(tok.is_special(v - 1));
  EXPECT_FALSE(tok.is_special(65));
  EXPECT_EQ(tok.token_text(tok.bos_id()), "<|bos|>");
}

TEST_F(TokenizerTest, TrainingIsByteIdenticalAndMerges) {
  set_num_threads(3);  // counting is split across threads; the result must not change
  Tokenizer again = test::train_small(*corpus_);
  set_num_threads(1);
  Tokenizer single = test::train_small(*corpus_);
  set_num_threads(0);
  EXPECT_EQ(again.to_json_text(), tok_->to_json_text());
  EXPECT_EQ(single.to_json_text(), tok_->to_json_text());
  EXPECT_EQ(again.fingerprint(), tok_->fingerprint());
  // Frequent words became single tokens.
  EXPECT_EQ(tok_->encode(" quick").size(), 1u);
  EXPECT_LT(tok_->encode("the quick brown fox").size(), std::string("the quick brown fox").size());
}

TEST_F(TokenizerTest, SaveLoadKeepsEverything) {
  auto path = *dir_ / "tok.json";
  tok_->save(path);
  Tokenizer loaded = Tokenizer::load(path);
  EXPECT_EQ(loaded.fingerprint(), tok_->fingerprint());
  EXPECT_EQ(loaded.to_json_text(), tok_->to_json_text());
  std::string text = "it's the quick 12345 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E fox";
  EXPECT_EQ(loaded.encode(text), tok_->encode(text));
}

TEST_F(TokenizerTest, RoundTripsArbitraryBytes) {
  const Tokenizer& tok = *tok_;
  const std::string fixed[] = {"",
                               "a",
                               "\xFF\xFE invalid \xC0\xAF utf8 \xED\xA0\x80 \xE6\x97",
                               "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 emoji ZWJ",
                               "\xE4\xB8\xAD\xE6\x96\x87 CJK \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
                               "e\xCC\x81\xCC\x82\xCC\x83 combining",
                               std::string(5000, ' ') + "x" + std::string(3000, '\n'),
                               std::string(4000, 'a'),
                               "0123456789012345678901234567890",
                               "<|bos|><|user|> not special here"};
  for (const std::string& text : fixed) {
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
  }
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text(rng() % 64, '\0');
    for (char& c : text) {
      // Bias toward ASCII and UTF-8 lead/continuation bytes.
      std::uint64_t r = rng();
      c = static_cast<char>((r & 3) == 0   ? (r >> 8) & 0xFF
                            : (r & 3) == 1 ? 0x80 | ((r >> 8) & 0x3F)
                                           : 0x20 + (r >> 8) % 95);
    }
    ASSERT_EQ(tok.decode(tok.encode(text)), text);
    ASSERT_EQ(tok.decode(tok.encode_with_specials(text)), text);
  }
}

TEST_F(TokenizerTest, SpecialsOnlyWhenAsked) {
  const Tokenizer& tok = *tok_;
  std::string chat = "<|user|>hi<|end|><|assistant|>";
  auto ids = tok.encode_with_specials(chat);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), *tok.special_id(kUserToken));
  EXPECT_EQ(ids.back(), *tok.special_id(kAssistantToken));
  EXPECT_EQ(tok.decode(ids), chat);
  for (std::uint32_t id : tok.encode(chat)) EXPECT_FALSE(tok.is_special(id));
}

TEST_F(TokenizerTest, DecodeRejectsOutOfRangeIds) {
  std::vector<std::uint32_t> ids = {1, tok_->vocab_size()};
  EXPECT_THROW(tok_->decode(ids), InputError);
}

// The heap-based path for long pieces must merge exactly like a naive loop.
TEST(BpeModel, LongPiecesMergeLikeTheNaiveLoop) {
  std::vector<std::string> bytes;
  for (int b = 0; b < 256; ++b) bytes.emplace_back(1, static_cast<char>(b));
  std::vector<MergeRule> merges;
  auto add = [&](std::uint32_t l, std::uint32_t r) {
    bytes.push_back(bytes[l] + bytes[r]);
    merges.push_back({l, r, static_cast<std::uint32_t>(bytes.size() - 1)});
    return merges.back().merged;
  };
  std::uint32_t ab = add('a', 'b'), ba = add('b', 'a'), aa = add('a', 'a');
  std::uint32_t abab = add(ab, ab);
  add(aa, 'b');
  add(abab, ba);
  add('b', 'b');
  BpeModel model(bytes, merges, false, kNoToken);
  auto naive = [&](std::string_view piece) {
    std::vector<std::uint32_t> s(piece.begin(), piece.end());
    while (true) {
      std::uint32_t best = kNoToken;
      std::size_t at = 0;
      for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        auto rank = model.lookup(s[i], s[i + 1]).first;
        if (rank < best) best = rank, at = i;
      }
      if (best == kNoToken) return s;
      s[at] = model.lookup(s[at], s[at + 1]).second;
      s.erase(s.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
  };
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::string piece(100 + rng() % 600, 'a');
    for (char& c : piece) c = "ab"[rng() % 2];
    std::vector<std::uint32_t> got;
    model.encode_piece(piece, got);
    ASSERT_EQ(got, naive(piece)) << piece;
  }
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST_F(TokenizerTest, LoadsGpt2StyleHfFile) {
  // A tiny GPT-2 style file as HF writes it (ByteLevel with the GPT-2 regex).
  std::string json =
      R"({"version":"1.0","added_tokens":[{"id":262,"content":"<|endoftext|>","special":true,
    "single_word":false,"lstrip":false,"rstrip":false,"normalized":false}],"normalizer":null,
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
    "post_processor":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true},
    "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
    "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"",
    "fuse_unk":false,"byte_fallback":false,"vocab":{VOCAB},"merges":["h e","\u0120 he","he l","hel l","hell o","\u0120he l"]}})";
  std::string vocab;
  for (int b = 0; b < 256; ++b) {
    vocab += (b ? "," : "") + Json(bytes_to_key(std::string(1, static_cast<char>(b)))).dump() +
             ":" + std::to_string(b);
  }
  std::string keys[] = {"he", "\u0120he", "hel", "hell", "hello", "\u0120hel"};
  for (int i = 0; i < 6; ++i) vocab += ",\"" + keys[i] + "\":" + std::to_string(256 + i);
  vocab += ",\"<|endoftext|>\":262";
  json.replace(json.find("{VOCAB}"), 7, "{" + vocab + "}");
  auto path = *dir_ / "gpt2.json";
  write(path, json);
  Tokenizer gpt2 = Tokenizer::load(path);
  EXPECT_EQ(gpt2.vocab_size(), 263u);
  EXPECT_EQ(gpt2.encode("hello"), (std::vector<std::uint32_t>{260}));
  EXPECT_EQ(gpt2.encode(" hell"), (std::vector<std::uint32_t>{261, 'l'}));
  EXPECT_EQ(gpt2.encode_with_specials("<|endoftext|>"), (std::vector<std::uint32_t>{262}));
  EXPECT_THROW(gpt2.bos_id(), FormatError);
}

void expect_load_error(const std::filesystem::path& path, const std::string& needle) {
  try {
    Tokenizer::load(path);
    ADD_FAILURE() << "loading " << path << " should fail";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find(path.filename().string()), std::string::npos) << msg;
  }
}

TEST_F(TokenizerTest, RejectsCorruptAndForeignFiles) {
  auto missing = *dir_ / "missing.json";
  EXPECT_THROW(Tokenizer::load(missing), InputError);
  auto garbage = *dir_ / "garbage.json";
  write(garbage, "{\"version\": \"1.0\", \"model\": ");
  expect_load_error(garbage, "not valid JSON");
  auto wordpiece = *dir_ / "wordpiece.json";
  write(wordpiece, R"({"model":{"type":"WordPiece","vocab":{"a":0}},"pre_tokenizer":null})");
  expect_load_error(wordpiece, "WordPiece");
  std::string good = tok_->to_json_text();
  auto regex = *dir_ / "regex.json";
  std::string bad_regex = good;
  bad_regex.replace(bad_regex.find("(?i:"), 4, "(?x:");
  write(regex, bad_regex);
  expect_load_error(regex, "not supported");
  auto merges = *dir_ / "merges.json";
  std::string bad_merge = good;
  bad_merge.replace(bad_merge.find("\"merges\": ["), 11, "\"merges\": [[\"zzzz\", \"q\"], ");
  write(merges, bad_merge);
  expect_load_error(merges, "missing from the vocab");
  auto normalizer = *dir_ / "normalizer.json";
  std::string with_norm = good;
  with_norm.replace(with_norm.find("\"normalizer\": null"), 18,
                    "\"normalizer\": {\"type\": \"Lowercase\"}");
  write(normalizer, with_norm);
  expect_load_error(normalizer, "normalizer \"Lowercase\" is not supported");
}

TEST_F(TokenizerTest, TrainingRejectsBadInput) {
  BpeTrainOptions options;
  options.progress = false;
  options.inputs = {(*dir_ / "nope.txt").string()};
  EXPECT_THROW(train_bpe(options), InputError);
  options.inputs = {(*dir_ / "nothing*.txt").string()};
  EXPECT_THROW(train_bpe(options), InputError);
  auto empty = *dir_ / "empty.txt";
  write(empty, "");
  options.inputs = {empty.string()};
  EXPECT_THROW(train_bpe(options), InputError);
  options.inputs = {corpus_->string()};
  options.vocab_size = 262;
  try {
    train_bpe(options);
    ADD_FAILURE() << "vocab 262 must be rejected";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("263"), std::string::npos) << e.what();
  }
  auto bad = *dir_ / "bad.jsonl";
  write(bad, "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
  options.inputs = {bad.string()};
  options.vocab_size = 300;
  try {
    train_bpe(options);
    ADD_FAILURE() << "bad JSONL must be rejected";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2 of"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace masque
