// Thread count for all CPU work (OpenMP kernels, tokenizer workers, BLAS).
// One knob, set once from the CLI's --threads, read everywhere.
#pragma once

namespace masque {

int num_threads();               // defaults to the hardware concurrency
void set_num_threads(int count); // count <= 0 restores the default

}  // namespace masque
