// Training precision (`--dtype`): which backend a training run's model is
// built on. f32 is everything in float32; bf16 is mixed precision: float32
// weights, gradients and optimizer state, the linear layers' products in
// bfloat16 with float32 accumulation (cpu_bf16_backend()).
#pragma once
#include <string>

#include "backend/backend.h"

namespace masque {

// The backend for `dtype` ("f32" | "bf16") on top of the default backend.
// InputError for an unknown dtype, bf16 on a backend other than the CPU, or
// bf16 on a CPU without AVX512_BF16 (the message names the missing feature).
const Backend& backend_for_dtype(const std::string& dtype);

// InputError unless dtype is "f32" or "bf16" (checked before a run writes anything).
void check_dtype(const std::string& dtype);

}  // namespace masque
