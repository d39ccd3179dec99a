// The trait direction from paired activations, per layer:
//   mean-diff  v = mean(positive) - mean(negative)          (Chen et al. 2025)
//   pca        u = first principal component of the paired differences
//              d_i = positive_i - negative_i (uncentered, as repeng's
//              pca_diff with randomly ordered pairs), sign set so that
//              mean(d_i . u) > 0, scaled to v = mean(d_i . u) u so that
//              steering coefficients mean the same as for mean-diff.
// Separation per layer: Cohen's d of the positive vs negative projections
// onto v/|v| (pooled standard deviation); the best layer is the one >= 1
// with the largest separation (the embedding layer only when it is the
// only one). A layer whose direction is exactly zero is left absent.
#pragma once
#include <span>
#include <string_view>
#include <vector>

namespace masque::vectors {

enum class Method { kMeanDiff, kPca };
std::string_view method_name(Method method);  // "mean-diff", "pca"
Method parse_method(std::string_view name, std::string_view flag);

struct Direction {
  std::vector<std::vector<float>> layers;  // [num_layers + 1]; empty = absent (zero)
  std::vector<double> separation;          // [num_layers + 1]; NaN where absent
  int best_layer = -1;                     // -1 when every layer is absent
};

// positives[i] and negatives[i] are pair i's pooled activations,
// [(num_layers + 1) * hidden] each. InputError when there are no pairs or
// the sizes disagree.
Direction compute_direction(std::span<const std::vector<float>* const> positives,
                            std::span<const std::vector<float>* const> negatives, int num_layers,
                            int hidden, Method method);

}  // namespace masque::vectors
