// Mean-difference and PCA directions (see direction.h). Sums in double: the
// difference of two means of similar activations loses float precision.
#include "vectors/direction.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace masque::vectors {

std::string_view method_name(Method method) { return method == Method::kPca ? "pca" : "mean-diff"; }

Method parse_method(std::string_view name, std::string_view flag) {
  if (name == "mean-diff") return Method::kMeanDiff;
  if (name == "pca") return Method::kPca;
  throw InputError(cat(flag, ": unknown method '", name, "' (valid: mean-diff, pca)"));
}

namespace {

double dot(const double* a, const float* b, int n) {
  double s = 0.0;
  for (int k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

// Uncentered first principal component of the rows of diffs ([n, d]) by
// power iteration on D^T D, started from the mean difference.
std::vector<double> first_component(const std::vector<double>& diffs, std::size_t n, int d,
                                    const std::vector<double>& start) {
  std::vector<double> u(start), next(d);
  double norm = 0.0;
  for (double x : u) norm += x * x;
  if (norm == 0.0) {
    for (int k = 0; k < d; ++k) u[k] = 1.0 / std::sqrt(double(d)) * ((k % 2) ? 1.0 : -1.0);
  } else {
    for (double& x : u) x /= std::sqrt(norm);
  }
  for (int iter = 0; iter < 300; ++iter) {
    std::fill(next.begin(), next.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const double* row = diffs.data() + i * d;
      double p = 0.0;
      for (int k = 0; k < d; ++k) p += row[k] * u[k];
      for (int k = 0; k < d; ++k) next[k] += p * row[k];
    }
    double nn = 0.0;
    for (double x : next) nn += x * x;
    if (nn == 0.0) return std::vector<double>(d, 0.0);
    nn = std::sqrt(nn);
    double change = 0.0;
    for (int k = 0; k < d; ++k) {
      const double v = next[k] / nn;
      change += (v - u[k]) * (v - u[k]);
      u[k] = v;
    }
    if (change < 1e-20) break;
  }
  return u;
}

}  // namespace

Direction compute_direction(std::span<const std::vector<float>* const> positives,
                            std::span<const std::vector<float>* const> negatives, int num_layers,
                            int hidden, Method method) {
  const std::size_t n = positives.size();
  if (n == 0 || negatives.size() != n) {
    throw InputError(
        cat("compute_direction: need the same nonzero number of positive and "
            "negative activations, got ",
            positives.size(), " and ", negatives.size()));
  }
  const std::size_t size = static_cast<std::size_t>(num_layers + 1) * hidden;
  for (std::size_t i = 0; i < n; ++i) {
    if (positives[i]->size() != size || negatives[i]->size() != size) {
      throw InputError(cat("compute_direction: pair ", i, " has activations of the wrong size"));
    }
  }
  const int d = hidden;
  Direction out;
  out.layers.assign(num_layers + 1, {});
  out.separation.assign(num_layers + 1, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> diffs(n * d), mean(d);
  for (int layer = 0; layer <= num_layers; ++layer) {
    const std::size_t off = static_cast<std::size_t>(layer) * d;
    std::fill(mean.begin(), mean.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const float* p = positives[i]->data() + off;
      const float* q = negatives[i]->data() + off;
      for (int k = 0; k < d; ++k) {
        const double diff = double(p[k]) - double(q[k]);
        diffs[i * d + k] = diff;
        mean[k] += diff;
      }
    }
    for (double& x : mean) x /= double(n);
    std::vector<double> v = mean;
    if (method == Method::kPca) {
      std::vector<double> u = first_component(diffs, n, d, mean);
      double m = 0.0;  // mean projection of the differences: sign and scale
      for (std::size_t i = 0; i < n; ++i) {
        for (int k = 0; k < d; ++k) m += diffs[i * d + k] * u[k];
      }
      m /= double(n);
      for (int k = 0; k < d; ++k) v[k] = m * u[k];
    }
    double norm2 = 0.0;
    for (double x : v) norm2 += x * x;
    std::vector<float> vf(d);
    bool zero = true;
    for (int k = 0; k < d; ++k) {
      vf[k] = static_cast<float>(v[k]);
      zero = zero && vf[k] == 0.0f;
    }
    if (norm2 == 0.0 || zero) continue;  // absent: nothing separates here
    const double inv = 1.0 / std::sqrt(norm2);
    std::vector<double> unit(d);
    for (int k = 0; k < d; ++k) unit[k] = v[k] * inv;
    // Cohen's d of the projections; with one pair (no variance) the gap over
    // the activations' RMS norm stands in, so a layer still gets a score.
    double sp = 0, sn = 0, sp2 = 0, sn2 = 0, sq = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double p = dot(unit.data(), positives[i]->data() + off, d);
      const double q = dot(unit.data(), negatives[i]->data() + off, d);
      sp += p, sn += q, sp2 += p * p, sn2 += q * q;
      for (int k = 0; k < d; ++k) {
        sq += double(positives[i]->data()[off + k]) * positives[i]->data()[off + k];
        sq += double(negatives[i]->data()[off + k]) * negatives[i]->data()[off + k];
      }
    }
    const double mp = sp / n, mn = sn / n;
    const double var = n > 1 ? ((sp2 - n * mp * mp) + (sn2 - n * mn * mn)) / (2.0 * (n - 1)) : 0.0;
    const double rms = std::sqrt(sq / (2.0 * n));
    const double sd = std::sqrt(std::max(var, 0.0));
    out.separation[layer] = sd > 1e-9 * std::max(rms, 1e-30) ? (mp - mn) / sd : (mp - mn) / rms;
    out.layers[layer] = std::move(vf);
  }
  double best = -std::numeric_limits<double>::infinity();
  for (int layer = 1; layer <= num_layers; ++layer) {
    if (!out.layers[layer].empty() && out.separation[layer] > best) {
      best = out.separation[layer];
      out.best_layer = layer;
    }
  }
  if (out.best_layer < 0 && !out.layers[0].empty()) out.best_layer = 0;
  return out;
}

}  // namespace masque::vectors
