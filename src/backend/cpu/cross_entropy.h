// Softmax cross-entropy over the vocabulary with ignore index -1. The model
// calls it on chunks of rows so the full [B*T, V] logits never exist at once;
// the backward writes dlogits over the logits in place (no probability copy).
#pragma once
#include <cstdint>

namespace masque::cpu {

// logits [rows, vocab], targets [rows] (-1 = ignored, else in [0, vocab)) ->
// losses [rows] (0 for ignored rows), lse [rows] = logsumexp of each row.
void softmax_cross_entropy_forward(float* losses, float* lse, const float* logits,
                                   const std::int32_t* targets, int rows, int vocab);

// dlogits [rows, vocab] = scale * (softmax(logits) - onehot(target)), and 0 for
// ignored rows. dlogits may alias logits. The model passes
// scale = grad_scale / (number of non-ignored targets in the whole batch).
void softmax_cross_entropy_backward(float* dlogits, const float* logits, const float* lse,
                                    const std::int32_t* targets, int rows, int vocab, float scale);

}  // namespace masque::cpu
