// Gaussian copula for correlated traits: z = L·n with L the Cholesky factor of
// the trait correlation matrix, then value = 2·Φ(z) − 1, so each trait is
// uniform on [-1, 1] and pairs keep the requested dependence.
#pragma once
#include <array>
#include <optional>

#include "core/rng.h"
#include "world/traits.h"

namespace masque::world {

using TraitMatrix = std::array<double, kNumTraits * kNumTraits>;

// Lower-triangular L with L·Lᵀ = matrix, tolerating semi-definite matrices
// (ρ = ±1); nullopt when the matrix is not positive semi-definite.
std::optional<TraitMatrix> cholesky(const TraitMatrix& matrix);

// One draw of a trait vector in [-1, 1]^kNumTraits.
TraitVector sample_traits(const TraitMatrix& cholesky_factor, Rng& rng);

double normal_cdf(double z);

}  // namespace masque::world
