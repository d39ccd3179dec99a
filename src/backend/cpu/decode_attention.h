// Attention of one query row against its visible keys: the decoding case
// (and any query block of a few rows), for the common head sizes 32, 64 and
// 128, with q and the output held in registers. attention.cpp calls it per
// row; the general query blocks go through sgemm there.
#pragma once
#include "backend/cpu/cpu_features.h"

namespace masque::cpu {

// out[head_dim] = softmax(scale * q . k_j) . v_j over keys j < valid, rows
// of k and v `ldk`/`ldv` floats apart; s is scratch of >= valid floats;
// lse (may be null) gets the row's
// logsumexp. Keys are visited in a fixed order: the result is
// deterministic. Returns false, touching nothing, for other head sizes.
bool decode_attention_row(float* out, const float* q, const float* k, int ldk, const float* v,
                          int ldv, int valid, int head_dim, float scale, float* s, float* lse,
                          CpuIsa isa = CpuIsa::kAuto);

}  // namespace masque::cpu
