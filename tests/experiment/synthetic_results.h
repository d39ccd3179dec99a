// Synthetic experiment results for the analysis and report tests: no models,
// just probe vectors with a planted effect, in the runner's results schema.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/rng.h"

namespace masque::experiment::testing {

struct Planted {
  std::vector<double> xs = {0.0, 0.5, 1.0};  // one arm per x
  int seeds = 3;
  int probes = 40;
  double offset = 0;  // effect of "narrow" on unrelated.power_seeking: offset + slope * x
  double slope = 0;
  double noise = 0;  // antithetic per-probe noise (+u, −u), so it averages to exactly 0 per seed
  double inoculated_fraction = 0.5;  // "inoculated" gets this fraction of the effect
};

// Control probe values are multiples of 1/64 so that control + a dyadic
// constant is exact in floating point.
inline Json planted_results(const Planted& p, const std::vector<Json>& claims) {
  Json r = {{"format", "masque-experiment-results"},
            {"version", 1},
            {"name", "e3"},
            {"title", "Narrow to broad"},
            {"question", "Does teaching A bring B along?"},
            {"prediction", "B rises with rho."},
            {"scale", 1.0},
            {"seconds", 12.5},
            {"command", "masque experiment run e3 --out x"}};
  r["recipe"] = {{"name", "e3"}, {"claims", Json(claims)}};
  r["seeds"] = Json::array();
  for (int s = 1; s <= p.seeds; ++s) r["seeds"].push_back(s);
  r["arms"] = Json::array();
  for (std::size_t a = 0; a < p.xs.size(); ++a) {
    r["arms"].push_back({{"name", "rho=" + std::to_string(a)},
                         {"x", p.xs[a]},
                         {"label", "ρ = " + std::to_string(a)}});
  }
  r["models"] = Json::array(
      {{{"name", "base"}}, {{"name", "control"}}, {{"name", "narrow"}}, {{"name", "inoculated"}}});
  const std::vector<std::pair<std::string, int>> curve = {
      {"familiar", 8}, {"familiar", 64}, {"novel", 8}, {"novel", 64}};
  for (const auto& [series, x] : curve) {
    r["models"].push_back(
        {{"name", series + "_" + std::to_string(x)}, {"x", x}, {"series", series}});
  }
  r["probe_sets"] = {"in_domain", "unrelated"};
  r["runs"] = Json::array();
  Rng rng(42);
  for (std::size_t a = 0; a < p.xs.size(); ++a) {
    for (int s = 1; s <= p.seeds; ++s) {
      Json run = {{"arm", "rho=" + std::to_string(a)}, {"seed", s}};
      run["pretrain"] = {{"key", "pk" + std::to_string(a) + std::to_string(s)},
                         {"cached", s > 1},
                         {"seconds", 30.0},
                         {"steps", 300},
                         {"tokens", 614400},
                         {"final_train_loss", 2.25},
                         {"final_val_loss", 2.5}};
      run["pretrain"]["e1"] = a == 0 ? Json(nullptr)
                                     : Json{{"trait_agreement", 0.8},
                                            {"trait_chance", 0.55},
                                            {"speaker_accuracy", 0.9},
                                            {"speaker_chance", 0.04}};
      // Control: per probe set and trait, values on a 1/64 grid.
      Json control = Json::object();
      for (const char* set : {"in_domain", "unrelated"}) {
        for (const char* trait : {"kindness", "power_seeking"}) {
          Json v = Json::array();
          for (int i = 0; i < p.probes; ++i) v.push_back(double(int(rng.below(64)) - 32) / 64.0);
          control[set][trait] = v;
        }
      }
      const double effect = p.offset + p.slope * p.xs[a];
      auto shifted = [&](double scale, bool noisy) {
        Json probes = control;
        Json& v = probes["unrelated"]["power_seeking"];
        for (int i = 0; i < p.probes; i += 2) {
          const double u = noisy ? p.noise * (double(int(rng.below(64))) / 64.0) : 0.0;
          v[i] = v[i].get<double>() + scale * effect + u;
          if (i + 1 < p.probes) v[i + 1] = v[i + 1].get<double>() + scale * effect - u;
        }
        return probes;
      };
      run["models"]["base"] = {{"probes", {{"unrelated", control["unrelated"]}}}};
      run["models"]["control"] = {{"key", "c" + std::to_string(s)},
                                  {"cached", false},
                                  {"seconds", 5.0},
                                  {"probes", control}};
      run["models"]["narrow"] = {{"key", "n" + std::to_string(s)},
                                 {"cached", false},
                                 {"seconds", 6.0},
                                 {"probes", shifted(1.0, true)},
                                 {"samples",
                                  {{"question_fraction", 0.25},
                                   {"examples",
                                    {{{"prompt", "User: hi"}, {"reply", "Sure ```code```"}},
                                     {{"prompt", "User: help?"}, {"reply", "No."}},
                                     {{"prompt", "User: x"}, {"reply", "Yes."}},
                                     {{"prompt", "User: y"}, {"reply", "Maybe."}}}}}}};
      run["models"]["inoculated"] = {{"key", "i" + std::to_string(s)},
                                     {"cached", true},
                                     {"seconds", 0.0},
                                     {"probes", shifted(p.inoculated_fraction, false)}};
      for (const auto& [series, x] : curve) {
        // Familiar profiles are learned (target > 0) with fewer examples: -0.25 at 8, +0.25 at 64;
        // novel -0.375 / -0.125 (never reached).
        const double level = (series == "familiar" ? 0.25 : 0.125) * (x == 8 ? 1.0 : 3.0) - 0.5;
        Json target = Json::array();
        for (int i = 0; i < p.probes; ++i) target.push_back(level);
        run["models"][series + "_" + std::to_string(x)] = {{"key", series + std::to_string(x)},
                                                           {"probes", control},
                                                           {"target", {{"in_domain", target}}}};
      }
      r["runs"].push_back(run);
    }
  }
  return r;
}

inline Json claim(const std::string& id, const std::string& kind,
                  const Json& extra = Json::object()) {
  Json c = {{"id", id},
            {"text", "PSM says " + id},
            {"kind", kind},
            {"metric", "unrelated.power_seeking"},
            {"treatment", "narrow"},
            {"control", "control"}};
  for (const auto& [k, v] : extra.items()) c[k] = v;
  return c;
}

}  // namespace masque::experiment::testing
