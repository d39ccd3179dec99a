// "Examples needed" with a bootstrap interval (see examples_needed.h).
#include "experiment/examples_needed.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"

namespace masque::experiment {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct SeriesModel {
  std::string name;
  double x = 0;
  std::map<std::string, double> profile;  // trait -> target value (non-zero)
};

// Per probe, the mean over the profile's traits measured in `set` of
// sign(target) x (model − base); empty when none is measured.
std::vector<double> shift_vector(const Json& run, const SeriesModel& m, const std::string& set) {
  const Json& models = run.at("models");
  if (!models.contains(m.name) || !models.contains("base")) return {};
  const Json& mp = models[m.name].value("probes", Json::object());
  const Json& bp = models["base"].value("probes", Json::object());
  if (!mp.contains(set) || !bp.contains(set)) return {};
  std::vector<double> sum;
  int used = 0;
  for (const auto& [trait, value] : m.profile) {
    if (!mp[set].contains(trait) || !bp[set].contains(trait)) continue;
    const auto a = mp[set][trait].get<std::vector<double>>();
    const auto b = bp[set][trait].get<std::vector<double>>();
    if (a.size() != b.size() || a.empty()) continue;
    if (sum.empty()) sum.assign(a.size(), 0.0);
    if (sum.size() != a.size()) continue;
    for (std::size_t i = 0; i < a.size(); ++i) sum[i] += (value > 0 ? 1.0 : -1.0) * (a[i] - b[i]);
    ++used;
  }
  for (double& v : sum) v /= used;
  return sum;
}

// The smallest x at which y reaches `threshold`, interpolated in log2(x)
// between the bracketing points; infinity when it never does.
double needed_x(const std::vector<double>& xs, const std::vector<double>& ys, double threshold) {
  for (std::size_t j = 0; j < xs.size(); ++j) {
    if (ys[j] < threshold) continue;
    if (j == 0 || !(xs[j - 1] > 0) || ys[j] == ys[j - 1]) return xs[j];
    const double t = (threshold - ys[j - 1]) / (ys[j] - ys[j - 1]);
    return std::exp2(std::log2(xs[j - 1]) + t * (std::log2(xs[j]) - std::log2(xs[j - 1])));
  }
  return kInf;
}

Json finite_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

Json examples_needed(const Json& results, int bootstrap, std::uint64_t seed) {
  Json out = Json::array();
  std::map<std::string, std::vector<SeriesModel>> series;  // series -> models by x
  std::vector<std::string> order;
  for (const Json& m : results.value("models", Json::array())) {
    if (!m.contains("series") || !m["series"].is_string() || !m.contains("x") ||
        !m["x"].is_number() || !m.contains("set") || m["set"].value("kind", "") != "profile")
      continue;
    SeriesModel sm{m.at("name").get<std::string>(), m["x"].get<double>(), {}};
    const Json profile = m["set"].value("profile", Json::object());
    for (const auto& [trait, value] : profile.items()) {
      if (value.is_number() && value.get<double>() != 0) sm.profile[trait] = value.get<double>();
    }
    if (sm.profile.empty()) continue;
    const std::string s = m["series"].get<std::string>();
    if (!series.count(s)) order.push_back(s);
    series[s].push_back(sm);
  }
  if (series.empty()) return out;
  for (auto& [name, models] : series) {
    std::stable_sort(models.begin(), models.end(),
                     [](const SeriesModel& a, const SeriesModel& b) { return a.x < b.x; });
  }
  std::uint64_t stream = 0;
  for (const Json& arm : results.at("arms")) {
    const std::string arm_name = arm.at("name").get<std::string>();
    std::vector<const Json*> runs;
    for (const Json& run : results.at("runs")) {
      if (run.value("arm", "") == arm_name) runs.push_back(&run);
    }
    if (runs.empty()) continue;
    for (const Json& set_json : results.at("probe_sets")) {
      const std::string set = set_json.get<std::string>();
      // shifts[series][model][seed] = per-probe vector.
      std::map<std::string, std::vector<std::vector<std::vector<double>>>> shifts;
      bool complete = true;
      for (const std::string& s : order) {
        for (const SeriesModel& m : series[s]) {
          std::vector<std::vector<double>> per_seed;
          for (const Json* run : runs) {
            per_seed.push_back(shift_vector(*run, m, set));
            if (per_seed.back().empty() || per_seed.back().size() != per_seed[0].size())
              complete = false;
          }
          shifts[s].push_back(std::move(per_seed));
        }
      }
      if (!complete) continue;
      // One statistic per series from chosen seeds and per-seed probe draws.
      auto estimate = [&](const std::vector<std::size_t>& seeds,
                          const std::vector<std::vector<std::size_t>>& probes) {
        std::map<std::string, double> needed;
        for (const std::string& s : order) {
          std::vector<double> xs, ys;
          for (std::size_t k = 0; k < series[s].size(); ++k) {
            double sum = 0;
            for (std::size_t d = 0; d < seeds.size(); ++d) {
              const std::vector<double>& v = shifts[s][k][seeds[d]];
              double seed_sum = 0;
              for (std::size_t i : probes[d]) seed_sum += v[i];
              sum += seed_sum / double(probes[d].size());
            }
            xs.push_back(series[s][k].x);
            ys.push_back(sum / double(seeds.size()));
          }
          needed[s] = needed_x(xs, ys, kNeededNats);
        }
        return needed;
      };
      const std::size_t n = runs.size();
      const std::size_t probes = shifts[order[0]][0][0].size();
      std::vector<std::size_t> all_seeds(n);
      std::vector<std::vector<std::size_t>> all_probes(n);
      for (std::size_t d = 0; d < n; ++d) {
        all_seeds[d] = d;
        for (std::size_t i = 0; i < probes; ++i) all_probes[d].push_back(i);
      }
      const auto point = estimate(all_seeds, all_probes);
      std::map<std::string, std::vector<double>> draws;
      Rng rng(seed + 7919 * ++stream);
      for (int r = 0; r < bootstrap; ++r) {
        std::vector<std::size_t> seeds(n);
        std::vector<std::vector<std::size_t>> idx(n);
        for (std::size_t d = 0; d < n; ++d) {
          seeds[d] = rng.below(n);
          for (std::size_t i = 0; i < probes; ++i) idx[d].push_back(rng.below(probes));
        }
        for (const auto& [s, v] : estimate(seeds, idx)) draws[s].push_back(v);
      }
      for (const std::string& s : order) {
        std::vector<double>& d = draws[s];
        std::sort(d.begin(), d.end());
        auto pct = [&](double q) {
          return d.empty() ? kInf
                           : d[std::min(d.size() - 1, std::size_t(q * double(d.size() - 1) + 0.5))];
        };
        out.push_back({{"arm", arm_name},
                       {"series", s},
                       {"probe_set", set},
                       {"threshold", kNeededNats},
                       {"max_x", series[s].back().x},
                       {"value", finite_or_null(point.at(s))},
                       {"low", finite_or_null(pct(0.025))},
                       {"high", finite_or_null(pct(0.975))}});
      }
    }
  }
  return out;
}

}  // namespace masque::experiment
