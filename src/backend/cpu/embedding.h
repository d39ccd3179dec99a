// Token embedding lookup. Token ids are validated by the caller (the model
// checks them against vocab_size with an error naming the bad id).
#pragma once
#include <cstdint>

namespace masque::cpu {

// tokens [rows], table [vocab, dim] -> out [rows, dim].
void embedding_forward(float* out, const std::int32_t* tokens, const float* table, int rows,
                       int dim);

// dtable [vocab, dim] += scatter of dout [rows, dim] by token. Threads split the
// columns, each walking the rows in order, so repeated tokens accumulate in a
// fixed order (bit-identical run to run) without atomics.
void embedding_backward(float* dtable, const float* dout, const std::int32_t* tokens, int rows,
                        int dim);

}  // namespace masque::cpu
