// tokenizer.json files that used to load silently (issue 16, item 10):
// a merge listed twice, a merge whose parts only a later merge produces, and
// vocab/added-token ids far beyond the tokens the file defines (which sized
// tables by the id: 2^31 entries). Each must be a FormatError naming it.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "core/json_util.h"
#include "test_helpers.h"
#include "tokenizer/tokenizer.h"

using namespace masque;

namespace {

class TokenizerJsonStrict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(test::scratch_dir("strict"));
    json_ = new Json(Json::parse(test::train_small(test::write_corpus(*dir_, 200)).to_json_text()));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete json_;
  }
  static void expect_rejected(const Json& file, const std::string& fragment) {
    try {
      Tokenizer::from_json_text(file.dump(), "strict.json");
      FAIL() << "accepted a file that should fail with '" << fragment << "'";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
  static std::filesystem::path* dir_;
  static Json* json_;
};
std::filesystem::path* TokenizerJsonStrict::dir_ = nullptr;
Json* TokenizerJsonStrict::json_ = nullptr;

}  // namespace

TEST_F(TokenizerJsonStrict, OwnFileLoads) {
  EXPECT_NO_THROW(Tokenizer::from_json_text(json_->dump(), "strict.json"));
  ASSERT_GT((*json_)["model"]["merges"].size(), 10u);
}

TEST_F(TokenizerJsonStrict, DuplicateMergeRejected) {
  Json file = *json_;
  file["model"]["merges"].push_back(file["model"]["merges"][0]);
  expect_rejected(file, "repeats merge 0");
}

TEST_F(TokenizerJsonStrict, ForwardMergeRejected) {
  // Find a merge whose part is produced by an earlier merge, and move that
  // earlier merge after it.
  Json file = *json_;
  Json& merges = file["model"]["merges"];
  auto parts = [](const Json& m) {
    if (m.is_array()) return std::pair(m[0].get<std::string>(), m[1].get<std::string>());
    const std::string s = m.get<std::string>();
    return std::pair(s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1));
  };
  for (std::size_t later = 1; later < merges.size(); ++later) {
    const auto [l, r] = parts(merges[later]);
    for (std::size_t early = 0; early < later; ++early) {
      const auto [el, er] = parts(merges[early]);
      if (el + er != l && el + er != r) continue;
      const Json moved = merges[early];
      merges.erase(early);
      merges.insert(merges.begin() + static_cast<std::ptrdiff_t>(later), moved);
      expect_rejected(file, "only the later merge");
      return;
    }
  }
  FAIL() << "no merge builds on an earlier one in the test tokenizer";
}

TEST_F(TokenizerJsonStrict, IdBeyondTheDefinedTokensRejected) {
  Json file = *json_;
  file["model"]["vocab"]["\xc4\xa0zzqq"] = 2000000000;
  expect_rejected(file, "beyond the");
  Json added = *json_;
  added["added_tokens"].push_back({{"id", 1999999999}, {"content", "<|x|>"}, {"special", true}});
  expect_rejected(added, "beyond the");
}
