// SwiGLU activation: h = silu(gate) * up. The model computes gate and up with
// one fused sgemm, so both live in one row of width 2*ff: gate = row[0, ff),
// up = row[ff, 2ff).
#pragma once

namespace masque::cpu {

// gate_up [rows, 2*ff] -> out [rows, ff].
void swiglu_forward(float* out, const float* gate_up, int rows, int ff);

// dout [rows, ff] -> dgate_up [rows, 2*ff] (overwritten). dgate_up may alias
// gate_up (the model reuses the forward's buffer for the gradient).
void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int rows, int ff);

}  // namespace masque::cpu
