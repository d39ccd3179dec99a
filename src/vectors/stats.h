// Small statistics for persona-vector reports: Pearson and Spearman
// correlation with a percentile bootstrap interval over examples.
#pragma once
#include <cstdint>
#include <vector>

#include "persona/persona_eval.h"

namespace masque::vectors {

// NaN when fewer than two points or either side has no variance.
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double spearman(const std::vector<double>& x, const std::vector<double>& y);
// r with a 95% percentile bootstrap over the pairs (resamples with no
// variance are skipped). value NaN when r is undefined.
persona::Interval correlation_interval(const std::vector<double>& x, const std::vector<double>& y,
                                       int resamples, std::uint64_t seed, bool rank = false);

}  // namespace masque::vectors
