// Unicode normalization on known cases (composition, decomposition,
// compatibility mappings, Hangul, canonical ordering, invalid bytes);
// tests/python/test_tokenizer_normalizers.py compares whole corpora with HF.
#include <gtest/gtest.h>

#include <string>

#include "tokenizer/unicode_normalize.h"

namespace masque {
namespace {

std::string nfc(std::string_view s) { return unicode_normalize(s, NormalForm::kNfc); }
std::string nfd(std::string_view s) { return unicode_normalize(s, NormalForm::kNfd); }
std::string nfkc(std::string_view s) { return unicode_normalize(s, NormalForm::kNfkc); }
std::string nfkd(std::string_view s) { return unicode_normalize(s, NormalForm::kNfkd); }

TEST(UnicodeNormalize, KnownCases) {
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");  // e + acute -> é
  EXPECT_EQ(nfd("\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  // Canonical ordering: ogonek (ccc 202) before acute (230); NFC then
  // composes a + ogonek and keeps the acute.
  EXPECT_EQ(nfd("a\xCC\x81\xCC\xA8"), "a\xCC\xA8\xCC\x81");
  EXPECT_EQ(nfc("a\xCC\x81\xCC\xA8"), "\xC4\x85\xCC\x81");
  // Hangul: jamo L V T <-> syllable U+AC01.
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");
  EXPECT_EQ(nfd("\xEA\xB0\x81"), "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");
  // Compatibility: the fi ligature and a circled digit; NFC keeps them.
  EXPECT_EQ(nfkc("\xEF\xAC\x81"), "fi");
  EXPECT_EQ(nfkd("\xE2\x91\xA0"), "1");
  EXPECT_EQ(nfc("\xEF\xAC\x81"), "\xEF\xAC\x81");
  // Singleton: OHM SIGN -> GREEK CAPITAL OMEGA under every form.
  EXPECT_EQ(nfc("\xE2\x84\xA6"), "\xCE\xA9");
  // Composition exclusion: U+0958 stays decomposed in NFC.
  EXPECT_EQ(nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");
  // A leading combining mark composes with nothing.
  EXPECT_EQ(nfc("\xCC\x81"
                "e"),
            "\xCC\x81"
            "e");
  // Invalid UTF-8 bytes pass through and block composition.
  EXPECT_EQ(nfc("e\xFF\xCC\x81"), "e\xFF\xCC\x81");
}

}  // namespace
}  // namespace masque
