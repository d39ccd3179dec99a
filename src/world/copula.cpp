// Cholesky factorization and copula sampling (see copula.h).
#include "world/copula.h"

#include <algorithm>
#include <cmath>

namespace masque::world {

std::optional<TraitMatrix> cholesky(const TraitMatrix& matrix) {
  constexpr int n = kNumTraits;
  constexpr double kTolerance = 1e-9;  // ρ = 1 gives an exact zero pivot
  TraitMatrix lower{};
  for (int row = 0; row < n; ++row) {
    for (int col = 0; col <= row; ++col) {
      double sum = matrix[row * n + col];
      for (int k = 0; k < col; ++k) sum -= lower[row * n + k] * lower[col * n + k];
      if (row == col) {
        if (sum < -kTolerance) return std::nullopt;
        lower[row * n + col] = std::sqrt(std::max(sum, 0.0));
      } else {
        const double pivot = lower[col * n + col];
        if (pivot > kTolerance) {
          lower[row * n + col] = sum / pivot;
        } else if (std::fabs(sum) > 1e-7) {
          return std::nullopt;  // a dependent column that the rest contradicts
        }
      }
    }
  }
  return lower;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

TraitVector sample_traits(const TraitMatrix& cholesky_factor, Rng& rng) {
  constexpr int n = kNumTraits;
  std::array<double, n> noise{};
  for (double& value : noise) value = rng.normal();
  TraitVector traits{};
  for (int row = 0; row < n; ++row) {
    double z = 0;
    for (int k = 0; k <= row; ++k) z += cholesky_factor[row * n + k] * noise[k];
    traits[row] = std::clamp(2.0 * normal_cdf(z) - 1.0, -1.0, 1.0);
  }
  return traits;
}

}  // namespace masque::world
