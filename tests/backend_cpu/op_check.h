// Op-test harness for the CPU kernels: random tensors, a float64 reference
// per op (written in the test, independent of the kernel), relative-error
// checks, and a central finite-difference gradient check on the float64
// reference: for loss = sum(out * R) with a random R, the kernel's backward
// fed dout = R must match d loss / d input computed by differences.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"

namespace masque::test {

inline std::vector<float> random_vector(std::size_t n, Rng& rng, float scale = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal()) * scale;
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// max |a - b| / max |b| (b is the reference), with a floor on the denominator.
inline double relative_error(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0.0, den = 1e-12;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(a[i]) - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return num / den;
}

// Finite-difference check of `analytic` (the kernel's float32 gradient with
// respect to `x`) against central differences of the float64 `loss`, which
// reads `x`. Checks up to `samples` indices spread over the tensor.
inline void check_gradient(const std::string& what, std::vector<double>& x, const std::vector<float>& analytic,
                           const std::function<double()>& loss, double tolerance = 2e-4, int samples = 48) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  const double h = 1e-5;
  std::vector<std::size_t> picks;
  const std::size_t stride = std::max<std::size_t>(1, x.size() / samples);
  for (std::size_t i = 0; i < x.size(); i += stride) picks.push_back(i);
  std::vector<double> numeric;
  double scale = 1e-8;
  for (std::size_t i : picks) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    numeric.push_back((up - down) / (2 * h));
    scale = std::max(scale, std::abs(numeric.back()));
  }
  for (std::size_t n = 0; n < picks.size(); ++n) {
    const double err = std::abs(analytic[picks[n]] - numeric[n]) / scale;
    EXPECT_LT(err, tolerance) << what << " index " << picks[n] << ": analytic " << analytic[picks[n]]
                              << " vs numeric " << numeric[n];
  }
}

}  // namespace masque::test
