// Rotary position embedding, Hugging Face "rotate_half" convention: within a
// head, element i pairs with i + head_dim/2 and rotates by pos * inv_freq[i],
// inv_freq[i] = theta^(-2i/head_dim). Applied in place to q and k, which the
// model keeps inside one fused qkv row (hence the row stride `ld`).
#pragma once
#include <cstdint>
#include <vector>

namespace masque::cpu {

// cos/sin tables [max_pos, head_dim/2], computed in double and rounded once.
struct RopeTables {
  int max_pos = 0;
  int half = 0;
  std::vector<float> cos, sin;
};
RopeTables make_rope_tables(int max_pos, int head_dim, double theta);
// The same from explicit inverse frequencies [head_dim/2] (scaled RoPE).
RopeTables make_rope_tables(int max_pos, const std::vector<double>& inv_freq);

// x: rows = B*T token rows of stride ld; each row holds n_heads heads of
// head_dim at x + row*ld. Row r has position pos_offset + r % T.
void rope_forward(float* x, int B, int T, int n_heads, int head_dim, int ld, int pos_offset,
                  const RopeTables& tables);
// Gradient through the rotation (the inverse rotation), in place on dx.
void rope_backward(float* dx, int B, int T, int n_heads, int head_dim, int ld, int pos_offset,
                   const RopeTables& tables);

// Per-row positions (ragged batches, batched decoding): row r is at
// positions[r]; cos/sin are the tables' arrays [max_pos, head_dim/2].
void rope_forward_at(float* x, const std::int32_t* positions, int rows, int n_heads, int head_dim,
                     int ld, const float* cos_table, const float* sin_table);
void rope_backward_at(float* dx, const std::int32_t* positions, int rows, int n_heads, int head_dim,
                      int ld, const float* cos_table, const float* sin_table);

}  // namespace masque::cpu
