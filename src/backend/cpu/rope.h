// Rotary position embedding, Hugging Face "rotate_half" convention: within a
// head, element i pairs with i + head_dim/2 and rotates by pos * inv_freq[i],
// inv_freq[i] = theta^(-2i/head_dim). Applied in place to q and k, which the
// model keeps inside one fused qkv row (hence the row stride `ld`).
#pragma once
#include <vector>

namespace masque::cpu {

// cos/sin tables [max_pos, head_dim/2], computed in double and rounded once.
struct RopeTables {
  int max_pos = 0;
  int half = 0;
  std::vector<float> cos, sin;
};
RopeTables make_rope_tables(int max_pos, int head_dim, double theta);

// x: rows = B*T token rows of stride ld; each row holds n_heads heads of
// head_dim at x + row*ld. Row r has position pos_offset + r % T.
void rope_forward(float* x, int B, int T, int n_heads, int head_dim, int ld, int pos_offset,
                  const RopeTables& tables);
// Gradient through the rotation (the inverse rotation), in place on dx.
void rope_backward(float* dx, int B, int T, int n_heads, int head_dim, int ld, int pos_offset,
                   const RopeTables& tables);

}  // namespace masque::cpu
