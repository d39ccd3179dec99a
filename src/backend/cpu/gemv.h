// One-row linear layer (decoding a single sequence): out = weight @ x, the
// weight in the Hugging Face [out, in] layout. Memory-bound: each weight row
// is streamed once. masque's own kernel rather than OpenBLAS's sgemv so that
// decoding speed does not depend on OpenBLAS's CPU detection: Debian's
// OpenBLAS 0.3.21 takes a Sapphire Rapids CPU for "Prescott" (SSE3) unless
// OPENBLAS_CORETYPE is set, and its sgemv then decodes one sequence 3x slower
// (docs/benchmarks.md, "Decode without OPENBLAS_CORETYPE").
#pragma once
#include "backend/cpu/cpu_features.h"

namespace masque::cpu {

// out [out_dim] = weight [out_dim, in] @ x [in] + beta * out (beta 0: out is
// not read). Multithreaded over output rows unless called from inside an
// OpenMP region or too small to pay for the fork. `isa` forces a kernel (tests).
void gemv(float* out, const float* x, const float* weight, int in, int out_dim, float beta,
          CpuIsa isa = CpuIsa::kAuto);

}  // namespace masque::cpu
