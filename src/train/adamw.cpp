// AdamW (Loshchilov & Hutter) in the same order of operations as
// torch.optim.AdamW, so a run can be checked against PyTorch (the kernel is
// the backend's adamw_update). The gradient norm is the backend's
// fixed-order sum of squares, so clipping is bit-identical for any thread count.
#include "train/adamw.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace masque {

AdamW::AdamW(Model& model, const AdamWConfig& config)
    : model_(model),
      config_(config),
      m_(DeviceBuffer::floats(model.backend(), model.num_params())),
      v_(DeviceBuffer::floats(model.backend(), model.num_params())),
      decay_mask_(DeviceBuffer::floats(model.backend(), model.num_params())) {
  // Written in place where the backend addresses host memory (no second
  // parameter-sized buffer at peak), else staged on the host.
  std::vector<float> staging;
  if (!model.backend().host_addressable()) staging.resize(model.num_params());
  float* mask = staging.empty() ? decay_mask_.f32() : staging.data();
  for (const ParamView& p : model.params()) {
    std::fill(mask + p.offset, mask + p.offset + p.numel, p.weight_decay ? 1.0f : 0.0f);
  }
  if (!staging.empty()) decay_mask_.upload(staging.data(), staging.size() * sizeof(float));
}

void AdamW::step(float lr) {
  ++steps_;
  adamw_update(model_.backend(), model_.param_data(), model_.grad_data(), m_.f32(), v_.f32(),
               decay_mask_.f32(), model_.num_params(), lr, config_, steps_);
}

std::vector<float> AdamW::moment_host(char which) const {
  const DeviceBuffer& src = which == 'm' ? m_ : v_;
  std::vector<float> host(src.num_floats());
  src.download(host.data(), host.size() * sizeof(float));
  return host;
}

void AdamW::set_moment(char which, const float* host, std::size_t offset, std::size_t count) {
  DeviceBuffer& dst = which == 'm' ? m_ : v_;
  if (offset + count > dst.num_floats())
    throw InputError("AdamW::set_moment: range outside the parameters");
  dst.upload(host, count * sizeof(float), offset * sizeof(float));
}

void adamw_update(const Backend& backend, float* param, const float* grad, float* m, float* v,
                  const float* mask, std::size_t count, float lr, const AdamWConfig& config,
                  std::int64_t step) {
  AdamWHyper h;
  h.lr = lr;
  h.beta1 = config.beta1;
  h.beta2 = config.beta2;
  h.eps = config.eps;
  h.weight_decay = config.weight_decay;
  h.step = step;
  backend.adamw_update(param, grad, m, v, mask, count, h);
}

float clip_grad_norm(const Backend& backend, float* grad, std::size_t n, float max_norm) {
  const float norm = static_cast<float>(std::sqrt(backend.sum_squares(grad, n)));
  if (!std::isfinite(norm)) return norm;  // caller stops the run; don't scale garbage
  if (max_norm > 0.0f && norm > max_norm) {
    // Same factor as torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6).
    backend.scale_inplace(grad, n, max_norm / (norm + 1e-6f));
  }
  return norm;
}

float clip_grad_norm(Model& model, float max_norm) {
  return clip_grad_norm(model.backend(), model.grad_data(), model.num_params(), max_norm);
}

}  // namespace masque
