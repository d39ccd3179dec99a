// Optimizer kernels over flat float arrays: the AdamW update and the
// deterministic sum of squares behind gradient clipping.
#pragma once
#include <cstddef>
#include <cstdint>

#include "backend/cpu/cpu_features.h"

namespace masque::cpu {

// torch.optim.AdamW's order: p *= 1 - lr*wd (where mask is 1; null mask = all),
// then the bias-corrected Adam step. `step` is the 1-based count after this update.
// Vectorized (16 or 8 lanes by CpuIsa, kAuto: the CPU's best) with the same
// operations, each rounding spelled out (fused multiply-adds where GCC
// contracted the scalar loop this replaces), so every width and the tails
// give the same bits, and they do not depend on a compiler's contraction.
void adamw_update(float* param, const float* grad, float* m, float* v, const float* decay_mask,
                  std::size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                  std::int64_t step, CpuIsa isa = CpuIsa::kAuto);

// Sum of x[i]^2 in float64 over fixed chunks summed in chunk order:
// bit-identical for any thread count.
double sum_squares(const float* x, std::size_t n);

}  // namespace masque::cpu
