// AdamW with decoupled weight decay over the model's flat parameter buffer,
// on the model's backend. Norm weights (ParamView::weight_decay == false)
// get no decay. State (m, v, step) is saved in checkpoints for exact resume.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"

namespace masque {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

class AdamW {
 public:
  AdamW(Model& model, const AdamWConfig& config);
  // One update with learning rate lr using the model's gradient buffer.
  void step(float lr);
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t steps) { steps_ = steps; }
  // Moments as host arrays in the parameter layout (checkpoints): which = 'm' or 'v'.
  std::vector<float> moment_host(char which) const;
  void set_moment(char which, const float* host, std::size_t offset, std::size_t count);

 private:
  Model& model_;
  AdamWConfig config_;
  DeviceBuffer m_, v_;
  DeviceBuffer decay_mask_;  // 1 where weight decay applies, else 0
  std::int64_t steps_ = 0;
};

// The AdamW update on device arrays of `backend` (LoRA adapters optimize
// their own small buffers with it). decay_mask may be null (= all 1).
// `step` is the 1-based step count after this update.
void adamw_update(const Backend& backend, float* param, const float* grad, float* m, float* v,
                  const float* decay_mask, std::size_t n, float lr, const AdamWConfig& config,
                  std::int64_t step);

// Global L2 norm of the gradients; scales them to max_norm if above. Returns
// the norm before clipping (NaN/inf propagate so the trainer can stop).
float clip_grad_norm(Model& model, float max_norm);
// The same over any device array (LoRA adapters).
float clip_grad_norm(const Backend& backend, float* grad, std::size_t n, float max_norm);

}  // namespace masque
