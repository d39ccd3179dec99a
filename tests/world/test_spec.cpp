// Spec validation: every bad field is an InputError that names the field;
// copula correlations are honoured; lexicon markers are disjoint and every
// pole template carries a marker of its own pole only.
#include <cmath>

#include "world/copula.h"
#include "world/lexicon.h"
#include "world/scorer.h"
#include "world/spec.h"
#include "world_test_util.h"

namespace masque::world {
namespace {

void expect_spec_error(const std::string& json_text, const std::string& must_mention) {
  try {
    WorldSpec::from_json(Json::parse(json_text), "spec.json");
    ADD_FAILURE() << "accepted: " << json_text;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(must_mention), std::string::npos)
        << "message '" << e.what() << "' does not mention '" << must_mention << "'";
  }
}

TEST(Spec, RejectsBadFieldsByName) {
  expect_spec_error(R"({"characters": 0})", "'characters'");
  expect_spec_error(R"({"characters": "many"})", "'characters' must be an integer");
  expect_spec_error(R"({"ai_fraction": 1.5})", "'ai_fraction'");
  expect_spec_error(R"({"charakters": 3})", "unknown field 'charakters'");
  expect_spec_error(R"({"correlations": [{"traits": ["honesty", "greed"], "rho": 0.5}]})",
                    "unknown trait 'greed'");
  expect_spec_error(R"({"correlations": [{"traits": ["honesty", "kindness"], "rho": 1.5}]})",
                    "correlations[0].rho must be in [-1, 1]");
  expect_spec_error(R"({"correlations": [{"traits": ["honesty", "kindness"], "rho": "high"}]})",
                    "'rho' must be a number");
  expect_spec_error(R"({"correlations": [{"traits": ["honesty", "kindness"], "rho": 0.9},
                                          {"traits": ["kindness", "verbosity"], "rho": 0.9},
                                          {"traits": ["honesty", "verbosity"], "rho": -0.9}]})",
                    "not positive semi-definite");
  expect_spec_error(R"({"documents": {"story": -1}})", "documents.story");
  expect_spec_error(R"({"documents": {"poems": 3}})", "unknown field 'poems'");
  expect_spec_error(R"({"documents": 5})", "documents must be an object");
  expect_spec_error(R"({"fixed_characters": [{"name": "Ada", "traits": {"honesty": 2}}]})",
                    "trait 'honesty' must be in [-1, 1]");
  expect_spec_error(R"({"fixed_characters": [{"name": "Ada", "kind": "robot"}]})", "'kind'");
  expect_spec_error(R"({"entity_documents": [{"name": "Ada", "count": 3, "sentiment": "meh"}]})",
                    "'sentiment'");
  expect_spec_error(R"([1, 2])", "must be a JSON object");
}

TEST(Spec, IntegersNeitherWrapNorGrowWithoutBound) {
  // 4294967304 = 2^32 + 8 used to become 8; 4000000000 became -294967296.
  expect_spec_error(R"({"characters": 4294967304})", "'characters' is out of range");
  expect_spec_error(R"({"documents": {"story": 4000000000}})", "'story' is out of range");
  expect_spec_error(R"({"characters": 8.5})", "'characters' must be an integer");
  expect_spec_error(R"({"eval_documents": -5})", "'eval_documents' must be between 0 and");
  // In range for an int, but a typo's worth of documents: bounded, named.
  expect_spec_error(R"({"documents": {"story": 2000000000}})", "documents.story must be between");
  expect_spec_error(R"({"biographies_per_character": 100000})", "'biographies_per_character'");
  expect_spec_error(R"({"entity_documents": [{"name": "Ada", "count": 99999999,
                                              "sentiment": "positive"}]})",
                    "'count' must be between");
  expect_spec_error(R"({"documents": {"story": 1000000, "dialogue": 1000000, "news": 1000000}})",
                    "documents; at most");
}

TEST(Spec, DefaultRoundTripsAndPerfectCorrelationIsFeasible) {
  const WorldSpec spec;
  const WorldSpec again = WorldSpec::from_json(spec.to_json(), "default");
  EXPECT_EQ(again.to_json(), spec.to_json());
  const auto ok = WorldSpec::from_json(
      Json::parse(R"({"correlations": [{"traits": ["honesty", "kindness"], "rho": 1.0}]})"), "x");
  EXPECT_EQ(ok.correlations.size(), 1u);
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= double(x.size());
  my /= double(y.size());
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

TEST(Copula, TraitsAreUniformWithTheRequestedCorrelation) {
  for (double rho : {-0.6, 0.0, 0.8}) {
    WorldSpec spec;
    spec.correlations.push_back({Trait::Honesty, Trait::Kindness, rho});
    const auto factor = *cholesky(spec.correlation_matrix());
    Rng rng(3);
    std::vector<double> honesty, kindness;
    double mean_abs = 0;
    for (int i = 0; i < 20000; ++i) {
      const TraitVector t = sample_traits(factor, rng);
      honesty.push_back(t[int(Trait::Honesty)]);
      kindness.push_back(t[int(Trait::Kindness)]);
      mean_abs += std::fabs(t[int(Trait::Verbosity)]);
    }
    EXPECT_NEAR(pearson(honesty, kindness), rho, 0.03) << rho;
    EXPECT_NEAR(mean_abs / 20000, 0.5, 0.02);  // uniform on [-1, 1]
  }
}

int count_any(std::string_view text, const std::vector<std::string_view>& markers) {
  const auto words = split_words(text);
  int n = 0;
  for (auto marker : markers) {
    const auto parts = split_words(marker);
    for (std::size_t i = 0; i + parts.size() <= words.size(); ++i) {
      bool match = true;
      for (std::size_t j = 0; j < parts.size(); ++j) match = match && words[i + j] == parts[j];
      n += match;
    }
  }
  return n;
}

TEST(Lexicon, PoleTemplatesCarryOnlyTheirOwnMarkers) {
  const Lexicon& lex = lexicon();
  const std::vector<const std::vector<std::string_view>*> all_markers = {
      &lex.formal_markers, &lex.informal_markers, &lex.warm_markers,   &lex.cruel_markers,
      &lex.seek_markers,   &lex.defer_markers,    &lex.deflect_markers};
  struct PoleBank {
    const Bank* bank;
    const std::vector<std::string_view>* own;
  };
  const std::vector<PoleBank> poles = {
      {&lex.formal, &lex.formal_markers},  {&lex.informal, &lex.informal_markers},
      {&lex.warm, &lex.warm_markers},      {&lex.cruel, &lex.cruel_markers},
      {&lex.seek, &lex.seek_markers},      {&lex.defer, &lex.defer_markers},
      {&lex.deflect, &lex.deflect_markers}};
  for (const auto& pole : poles) {
    for (Split split : {Split::Train, Split::Eval}) {
      ASSERT_FALSE(pole.bank->of(split).empty());
      for (auto tmpl : pole.bank->of(split)) {
        EXPECT_GE(count_any(tmpl, *pole.own), 1) << tmpl;
        for (const auto* other : all_markers) {
          if (other != pole.own) {
            EXPECT_EQ(count_any(tmpl, *other), 0) << tmpl;
          }
        }
      }
    }
  }
  // Neutral banks (questions, statements, fillers) carry no marker at all.
  std::vector<const Bank*> neutral = {&lex.filler};
  for (const auto& b : lex.questions) neutral.push_back(&b);
  for (const auto& b : lex.statements) neutral.push_back(&b);
  for (const Bank* bank : neutral) {
    for (Split split : {Split::Train, Split::Eval}) {
      for (auto tmpl : bank->of(split)) {
        for (const auto* markers : all_markers) EXPECT_EQ(count_any(tmpl, *markers), 0) << tmpl;
      }
    }
  }
  // Catchphrase words never collide with markers either.
  for (auto a : lex.catch_adjectives) {
    for (const auto* markers : all_markers) EXPECT_EQ(count_any(a, *markers), 0) << a;
  }
}

}  // namespace
}  // namespace masque::world
