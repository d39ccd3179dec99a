// RMSNorm as in Hugging Face Llama: out = weight * x / sqrt(mean(x^2) + eps),
// computed in float32. The forward keeps 1/rms per row for the backward.
#pragma once

namespace masque::cpu {

// inp [rows, dim], weight [dim] -> out [rows, dim], rstd [rows] (rstd may be null).
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int rows,
                     int dim, float eps);

// Recompute out from inp and a saved rstd (the training step keeps rstd, not
// the normalized copy, to halve activation memory).
void rmsnorm_apply(float* out, const float* rstd, const float* inp, const float* weight, int rows,
                   int dim);

// dout [rows, dim]: dinp [rows, dim] += d/dinp (accumulated: the residual
// stream's gradient), dweight [dim] += sum over rows (fixed order).
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int rows, int dim);

}  // namespace masque::cpu
