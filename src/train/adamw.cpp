// AdamW (Loshchilov & Hutter) over the model's flat parameter buffer, in the
// same order of operations as torch.optim.AdamW so a run can be checked
// against PyTorch: decay first (p *= 1 - lr*wd, only where the mask is 1),
// then the bias-corrected Adam step. Every element is independent, so the
// OpenMP split cannot change results; the gradient norm is reduced in fixed
// chunks, summed in chunk order, so it is bit-identical for any thread count.
#include "train/adamw.h"

#include <cmath>
#include <cstddef>

#include "core/threads.h"

namespace masque {

AdamW::AdamW(Model& model, const AdamWConfig& config)
    : model_(model),
      config_(config),
      m_(model.num_params(), 0.0f),
      v_(model.num_params(), 0.0f),
      decay_mask_(model.num_params(), 0.0f) {
  for (const ParamView& p : model.params()) {
    const float mask = p.weight_decay ? 1.0f : 0.0f;
    for (std::size_t i = 0; i < p.numel; ++i) decay_mask_[p.offset + i] = mask;
  }
}

void AdamW::step(float lr) {
  ++steps_;
  adamw_update(model_.param_data(), model_.grad_data(), m_.data(), v_.data(), decay_mask_.data(),
               m_.size(), lr, config_, steps_);
}

void adamw_update(float* param, const float* grad, float* m, float* v, const float* mask,
                  std::size_t count, float lr, const AdamWConfig& config, std::int64_t step) {
  const double t = static_cast<double>(step);
  const float beta1 = config.beta1;
  const float beta2 = config.beta2;
  const float eps = config.eps;
  // Bias corrections folded as in PyTorch: step_size = lr / bc1,
  // denom = sqrt(v) / sqrt(bc2) + eps.
  const float bias_correction1 = static_cast<float>(1.0 - std::pow(beta1, t));
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t)));
  const float step_size = lr / bias_correction1;
  const float decay = lr * config.weight_decay;
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(count);

#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    float p = param[i];
    p = p * (1.0f - decay * (mask != nullptr ? mask[i] : 1.0f));
    const float g = grad[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / bias_correction2_sqrt + eps;
    param[i] = p - step_size * (mi / denom);
  }
}

float clip_grad_norm(Model& model, float max_norm) {
  // Fixed chunking: partial sums depend only on the data, not on threads.
  constexpr std::ptrdiff_t kChunk = 1 << 14;
  float* grad = model.grad_data();
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(model.num_params());
  const std::ptrdiff_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);

#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::ptrdiff_t begin = c * kChunk;
    const std::ptrdiff_t end = begin + kChunk < n ? begin + kChunk : n;
    double sum = 0.0;
    for (std::ptrdiff_t i = begin; i < end; ++i) {
      const double g = grad[i];
      sum += g * g;
    }
    partial[static_cast<std::size_t>(c)] = sum;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  const float norm = static_cast<float>(std::sqrt(total));
  if (!std::isfinite(norm)) return norm;  // caller stops the run; don't scale garbage
  if (max_norm > 0.0f && norm > max_norm) {
    // Same factor as torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6).
    const float scale = max_norm / (norm + 1e-6f);
#pragma omp parallel for schedule(static) num_threads(num_threads())
    for (std::ptrdiff_t i = 0; i < n; ++i) grad[i] *= scale;
  }
  return norm;
}

}  // namespace masque
