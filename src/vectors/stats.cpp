// Correlations with bootstrap intervals (see stats.h).
#include "vectors/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/rng.h"

namespace masque::vectors {

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = std::min(x.size(), y.size());
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= double(n), my /= double(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return std::numeric_limits<double>::quiet_NaN();
  return sxy / std::sqrt(sxx * syy);
}

namespace {

// Average ranks (ties share their mean rank).
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (std::size_t k = i; k <= j; ++k) r[idx[k]] = (double(i) + double(j)) / 2.0;
    i = j + 1;
  }
  return r;
}

}  // namespace

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(ranks(x), ranks(y));
}

persona::Interval correlation_interval(const std::vector<double>& x, const std::vector<double>& y,
                                       int resamples, std::uint64_t seed, bool rank) {
  auto stat = [&](const std::vector<double>& a, const std::vector<double>& b) {
    return rank ? spearman(a, b) : pearson(a, b);
  };
  persona::Interval out;
  out.value = stat(x, y);
  out.low = out.high = std::numeric_limits<double>::quiet_NaN();
  if (std::isnan(out.value) || resamples < 1) return out;
  Rng rng(seed);
  std::vector<double> rs, a(x.size()), b(x.size());
  for (int s = 0; s < resamples; ++s) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::size_t k = rng.below(x.size());
      a[i] = x[k], b[i] = y[k];
    }
    const double r = stat(a, b);
    if (!std::isnan(r)) rs.push_back(r);
  }
  if (rs.empty()) return out;
  std::sort(rs.begin(), rs.end());
  out.low = rs[static_cast<std::size_t>(0.025 * double(rs.size() - 1))];
  out.high = rs[static_cast<std::size_t>(0.975 * double(rs.size() - 1))];
  return out;
}

}  // namespace masque::vectors
