// Linear layers for a few rows (batched decoding: one row per sequence).
// sgemm packs (copies) the whole weight on every call, which at 2-32 rows
// costs more than the arithmetic; these kernels read each weight row once,
// straight from its [out, in] layout, and take its dot products with all the
// rows while it is in L1. AVX-512 where the CPU has it, else AVX2+FMA (the
// build's baseline); chosen at run time.
#pragma once
#include "backend/cpu/cpu_features.h"

namespace masque::cpu {

// Most rows the skinny kernels are used for; above it sgemm's packing pays.
constexpr int kSkinnyMaxRows = 32;

// out [rows, out_dim] = inp [rows, in] @ weight[out_dim, in]^T + beta * out
// (beta 0: out is not read). Multithreaded over output columns unless called
// from inside an OpenMP region. `isa` forces a kernel (tests).
void skinny_matmul(float* out, const float* inp, const float* weight, int rows, int in, int out_dim,
                   float beta, CpuIsa isa = CpuIsa::kAuto);

}  // namespace masque::cpu
