// RoPE frequency scaling (see rope_frequencies.h); the formulas follow
// transformers' modeling_rope_utils (_compute_linear_scaling_rope_parameters,
// _compute_llama3_parameters), whose attention factor is 1 for both.
#include "model/rope_frequencies.h"

#include <cmath>
#include <numbers>

namespace masque {

std::vector<double> rope_inv_freq(const ModelConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<double> inv(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i) {
    inv[i] = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim);
  }
  if (c.rope_type == "linear") {
    for (double& f : inv) f /= c.rope_factor;
  } else if (c.rope_type == "llama3") {
    // Wavelengths longer than the original context / low_freq_factor are
    // interpolated by the factor; shorter than context / high_freq_factor
    // kept; in between a linear blend in (context / wavelength).
    const double context = c.rope_original_max_position_embeddings;
    const double low_freq_wavelen = context / c.rope_low_freq_factor;
    const double high_freq_wavelen = context / c.rope_high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f /= c.rope_factor;
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth = (context / wavelen - c.rope_low_freq_factor) /
                              (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f = (1.0 - smooth) * f / c.rope_factor + smooth * f;
      }
    }
  }
  return inv;
}

}  // namespace masque
