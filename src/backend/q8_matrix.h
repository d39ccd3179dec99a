// Q8Matrix: a linear weight [rows, in] held as ggml's Q8_0 blocks (32
// weights share one scale: w = scale * q, q an int8), for decoding from Q8_0
// GGUF files without widening the weights to float32 (docs/gguf.md). The
// blocks are stored split, int8 values row-major and one float scale per
// block, so a kernel streams each row's bytes contiguously. Host memory: only
// the CPU backend reads it (Backend::matmul_forward_q8). The kernels and the
// conversions live in backend/cpu/q8_matmul.h.
#pragma once
#include <cstdint>
#include <vector>

namespace masque {

struct Q8Matrix {
  static constexpr int kBlock = 32;  // Q8_0's weights per scale
  int rows = 0;
  int in = 0;                  // a multiple of kBlock
  std::vector<std::int8_t> q;  // [rows, in]
  std::vector<float> scale;    // [rows, in / kBlock]; the f16 scale widened to float
  int blocks_per_row() const { return in / kBlock; }
};

}  // namespace masque
