// SwiGLU activation: h = silu(gate) * up. The model computes gate and up with
// one fused sgemm, so both live in one row of width 2*ff: gate = row[0, ff),
// up = row[ff, 2ff).
//
// Two vector widths, chosen by CpuIsa (kAuto: the CPU's best): AVX2 and
// AVX-512 run the same per-element operations (the same exp polynomial, the
// same division), so they give the same bits; AVX-512 does 16 elements per
// instruction, which halves the time of these compute-bound loops (exp and
// a division per element).
#pragma once

#include "backend/cpu/cpu_features.h"

namespace masque::cpu {

// gate_up [rows, 2*ff] -> out [rows, ff].
void swiglu_forward(float* out, const float* gate_up, int rows, int ff, CpuIsa isa = CpuIsa::kAuto);

// dout [rows, ff] -> dgate_up [rows, 2*ff] (overwritten). dgate_up may alias
// gate_up (the model reuses the forward's buffer for the gradient).
void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows, int ff,
                     CpuIsa isa = CpuIsa::kAuto);

}  // namespace masque::cpu
