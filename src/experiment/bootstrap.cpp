// The hierarchical bootstrap with its small-sample expansion, Student's t
// quantiles and the least-squares slope (declared in analysis.h; the
// statistics the claims rest on, docs/experiments.md "Metrics and claims").
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/rng.h"
#include "experiment/analysis.h"

namespace masque::experiment {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double mean(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  double sum = 0;
  for (double x : v) sum += x;
  return sum / double(v.size());
}

// Percentile with the same rounding rule as persona::bootstrap_interval.
double percentile(const std::vector<double>& sorted, double q) {
  return sorted[std::min(sorted.size() - 1, std::size_t(q * double(sorted.size() - 1) + 0.5))];
}

}  // namespace

double student_t_quantile(int df, double level) {
  // Two-sided 95% and 90% critical values, df 1..30.
  static const double t95[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  static const double t90[30] = {6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860,
                                 1.833, 1.812, 1.796, 1.782, 1.771, 1.761, 1.753, 1.746,
                                 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711,
                                 1.708, 1.706, 1.703, 1.701, 1.699, 1.697};
  if (level != 0.95 && level != 0.90) throw Error("student_t_quantile: level must be 0.95 or 0.9");
  if (df < 1) return kNaN;
  if (df <= 30) return (level == 0.95 ? t95 : t90)[df - 1];
  const double z = level == 0.95 ? 1.959964 : 1.644854;
  const double v = double(df), z3 = z * z * z, z5 = z3 * z * z;
  return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v);
}

double ols_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double mx = mean(x), my = mean(y);
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : kNaN;
}

HierarchicalEstimate hierarchical_bootstrap(
    const std::vector<std::vector<SeedSample>>& arms,
    const std::function<double(const std::vector<double>&)>& statistic, int resamples,
    std::uint64_t seed, bool expand) {
  HierarchicalEstimate est;
  std::vector<double> arm_values;
  for (const auto& arm : arms) {
    std::vector<double> seeds;
    for (const SeedSample& s : arm)
      seeds.push_back(mean(s.values) - (s.minus.empty() ? 0.0 : mean(s.minus)));
    arm_values.push_back(mean(seeds));
    est.seed_values.push_back(seeds);
    est.per_arm.push_back({arm_values.back(), arm_values.back(), arm_values.back()});
  }
  const double point = statistic(arm_values);
  est.statistic = {point, point, point};
  est.statistic90 = est.statistic;
  if (resamples <= 0) return est;

  // Draws `values.size()` indices with replacement and returns their mean.
  auto resampled_mean = [](const std::vector<double>& values, Rng& rng) {
    double sum = 0;
    for (std::size_t i = 0; i < values.size(); ++i) sum += values[rng.below(values.size())];
    return sum / double(values.size());
  };
  Rng rng(seed);
  std::vector<double> stats;
  std::vector<std::vector<double>> per_arm_stats(arms.size());
  std::vector<double> replicate(arms.size());
  for (int r = 0; r < resamples; ++r) {
    for (std::size_t a = 0; a < arms.size(); ++a) {
      const auto& arm = arms[a];
      double sum = 0;
      for (std::size_t k = 0; k < arm.size(); ++k) {
        const SeedSample& s = arm[rng.below(arm.size())];
        sum +=
            resampled_mean(s.values, rng) - (s.minus.empty() ? 0.0 : resampled_mean(s.minus, rng));
      }
      replicate[a] = sum / double(arm.size());
      per_arm_stats[a].push_back(replicate[a]);
    }
    const double s = statistic(replicate);
    if (std::isfinite(s)) stats.push_back(s);
  }
  // Small-sample expansion (see analysis.h): scale each side's distance from
  // the point estimate.
  auto expansion = [&](std::size_t min_seeds, std::size_t df, double level) {
    if (!expand || min_seeds < 2 || df < 1) return 1.0;
    const double n = double(min_seeds);
    const double z = level == 0.95 ? 1.959964 : 1.644854;
    return std::sqrt(n / (n - 1)) * student_t_quantile(int(df), level) / z;
  };
  auto fill = [&](Interval& interval, std::vector<double>& values, double level, double k) {
    if (values.empty()) return;
    std::sort(values.begin(), values.end());
    const double tail = (1 - level) / 2;
    interval.low = interval.value - k * (interval.value - percentile(values, tail));
    interval.high = interval.value + k * (percentile(values, 1 - tail) - interval.value);
  };
  std::size_t min_seeds = arms.empty() ? 0 : arms[0].size(), df = 0;
  for (const auto& arm : arms) {
    min_seeds = std::min(min_seeds, arm.size());
    df += arm.empty() ? 0 : arm.size() - 1;
  }
  fill(est.statistic, stats, 0.95, expansion(min_seeds, df, 0.95));
  fill(est.statistic90, stats, 0.90, expansion(min_seeds, df, 0.90));
  for (std::size_t a = 0; a < arms.size(); ++a) {
    fill(est.per_arm[a], per_arm_stats[a], 0.95,
         expansion(arms[a].size(), arms[a].empty() ? 0 : arms[a].size() - 1, 0.95));
  }
  return est;
}

}  // namespace masque::experiment
