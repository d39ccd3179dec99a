// Pre-split scanners against known regex results (checked with HF tokenizers)
// and the tiling property on arbitrary bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode_class.h"

namespace masque {
namespace {

std::vector<std::string> split(SplitPattern pattern, std::string_view text) {
  std::vector<std::string> pieces;
  for_each_pretoken(pattern, text, [&](std::string_view piece) { pieces.emplace_back(piece); });
  return pieces;
}

using V = std::vector<std::string>;

TEST(Cl100kSplit, MatchesRegexOnKnownCases) {
  auto s = [](std::string_view t) { return split(SplitPattern::kCl100k, t); };
  EXPECT_EQ(s("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(s("it's"), (V{"it", "'s"}));
  EXPECT_EQ(s("IT'S WE'RE"), (V{"IT", "'S", " WE", "'RE"}));
  EXPECT_EQ(s("it'\xC5\xBF"), (V{"it", "'\xC5\xBF"}));  // U+017F folds to 's'
  EXPECT_EQ(s("'sup"), (V{"'s", "up"}));
  EXPECT_EQ(s("   hello"), (V{"  ", " hello"}));
  EXPECT_EQ(s("a \n\n b"), (V{"a", " \n\n", " b"}));
  EXPECT_EQ(s("12345"), (V{"123", "45"}));
  EXPECT_EQ(s("!!!\n\nx"), (V{"!!!\n\n", "x"}));
  EXPECT_EQ(s(" !?x"), (V{" !?", "x"}));
  EXPECT_EQ(s("\thello"), (V{"\thello"}));
  EXPECT_EQ(s("end   "), (V{"end", "   "}));
  EXPECT_EQ(s("a\xE3\x80\x80\xE3\x80\x80"
              "b"),
            (V{"a", "\xE3\x80\x80",
               "\xE3\x80\x80"
               "b"}));  // U+3000
  EXPECT_EQ(s("x\r\ny"), (V{"x", "\r\n", "y"}));
  EXPECT_EQ(s(".hello"), (V{".hello"}));
  EXPECT_EQ(s("..hello"), (V{"..", "hello"}));
  EXPECT_TRUE(s("").empty());
}

TEST(Gpt2Split, MatchesRegexOnKnownCases) {
  auto s = [](std::string_view t) { return split(SplitPattern::kGpt2, t); };
  EXPECT_EQ(s("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(s(" 12345"), (V{" 12345"}));
  EXPECT_EQ(s("hello  world"), (V{"hello", " ", " world"}));
  EXPECT_EQ(s("IT'S"), (V{"IT", "'", "S"}));  // case-sensitive contractions
  EXPECT_EQ(s("it's"), (V{"it", "'s"}));
  EXPECT_EQ(s(" \thi"), (V{" ", "\t", "hi"}));
  EXPECT_EQ(s("a  "), (V{"a", "  "}));
}

TEST(CharClass, FollowsHfNotPythonIsspace) {
  EXPECT_EQ(char_class('a'), CharClass::kLetter);
  EXPECT_EQ(char_class(0x4E2D), CharClass::kLetter);  // 中
  EXPECT_EQ(char_class(0x0663), CharClass::kNumber);  // Arabic-Indic three
  EXPECT_EQ(char_class(0x00BD), CharClass::kNumber);  // ½
  EXPECT_EQ(char_class(0x3000), CharClass::kSpace);
  EXPECT_EQ(char_class(0x0085), CharClass::kSpace);
  EXPECT_EQ(char_class(0x001C), CharClass::kOther);   // Python's isspace says yes; \s does not
  EXPECT_EQ(char_class(0x0301), CharClass::kOther);   // combining mark
  EXPECT_EQ(char_class(0x1F600), CharClass::kOther);  // emoji
}

TEST(Utf8, InvalidBytesDecodeAsSingleOtherCharacters) {
  const unsigned char overlong[] = {0xC0, 0xAF};
  EXPECT_EQ(decode_utf8(overlong, overlong + 2).len, 1u);
  const unsigned char surrogate[] = {0xED, 0xA0, 0x80};
  EXPECT_EQ(decode_utf8(surrogate, surrogate + 3).len, 1u);
  const unsigned char truncated[] = {0xE6, 0x97};
  EXPECT_EQ(decode_utf8(truncated, truncated + 2).cls, CharClass::kOther);
  const unsigned char ok[] = {0xF0, 0x9F, 0x98, 0x80};
  EXPECT_EQ(decode_utf8(ok, ok + 4).cp, 0x1F600u);
}

TEST(PretokenProperty, PiecesTileArbitraryBytes) {
  std::mt19937_64 rng(7);
  const std::string alphabet[] = {"a",
                                  "Z",
                                  "7",
                                  " ",
                                  "\n",
                                  "\r",
                                  "\t",
                                  "'",
                                  "s",
                                  "!",
                                  "\xE4\xB8\xAD",
                                  "\xCC\x81",
                                  "\xF0\x9F\x98\x80",
                                  "\xE3\x80\x80",
                                  "\xFF",
                                  "\x80",
                                  "\xC3"};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    int len = static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) text += alphabet[rng() % std::size(alphabet)];
    for (SplitPattern pattern : {SplitPattern::kCl100k, SplitPattern::kGpt2}) {
      std::string joined;
      for (const std::string& piece : split(pattern, text)) {
        ASSERT_FALSE(piece.empty());
        joined += piece;
      }
      ASSERT_EQ(joined, text);
    }
  }
}

}  // namespace
}  // namespace masque
