// Optimizer kernels over flat float arrays: the AdamW update and the
// deterministic sum of squares behind gradient clipping.
#pragma once
#include <cstddef>
#include <cstdint>

namespace masque::cpu {

// torch.optim.AdamW's order: p *= 1 - lr*wd (where mask is 1; null mask = all),
// then the bias-corrected Adam step. `step` is the 1-based count after this update.
void adamw_update(float* param, const float* grad, float* m, float* v, const float* decay_mask,
                  std::size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                  std::int64_t step);

// Sum of x[i]^2 in float64 over fixed chunks summed in chunk order:
// bit-identical for any thread count.
double sum_squares(const float* x, std::size_t n);

}  // namespace masque::cpu
