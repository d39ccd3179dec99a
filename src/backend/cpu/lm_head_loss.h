// Training's LM head fused with softmax cross-entropy (Backend::lm_head_loss
// on the CPU): logits = x w^T one chunk of rows at a time, the loss and
// d(logits) computed in one pass over each row while the chunk is hot, and
// dx, dw accumulated from the chunk, so the [rows, vocab] logits never exist
// and a chunk (8-32 MiB) stays in the last-level cache. Rows whose
// target is -1 (SFT's prompts, padding) are skipped before the GEMMs: a chunk
// gathers the next valid rows, so masked tokens cost no LM head work.
// Deterministic: chunks depend on the targets only, the GEMMs are
// deterministic (gemm.h, bf16_gemm.h) and rows are independent, so results
// are bit-identical at any thread count.
#pragma once
#include <cstddef>
#include <cstdint>

namespace masque::cpu {

enum class HeadPrecision { kF32, kBf16 };  // the logits' and gradients' GEMMs

// Rows per chunk: deep enough for dw's GEMM (its k is the chunk's rows; each
// chunk reads and writes all of dw) and, in bf16, to amortize converting all
// of w to bf16 in each chunk's two GEMMs with w; bounded in memory. float32:
// up to 2^22 logits (16 MiB), at most 512 rows; bf16: up to 2^23 logits, at
// most 1024 rows; at least 64. Measured by bench_lm_head (docs/benchmarks.md).
int lm_head_chunk_rows(int vocab, HeadPrecision precision);
// Scratch floats lm_head_loss needs (chunk logits, gathered rows, their dx)
// for chunks of `chunk_rows` rows (0 = lm_head_chunk_rows).
std::size_t lm_head_scratch_floats(int d, int vocab, HeadPrecision precision, int chunk_rows = 0);

// x [rows, d], w [vocab, d], targets [rows] (-1 = ignored) ->
// losses [rows] = logsumexp(x_r w^T) - x_r . w_target (0 on ignored rows).
// Backward when dx is non-null: dx [rows, d] = row_scale[r] * dloss_r/dx_r
// (overwritten; 0 on ignored rows) and dw [vocab, d] += sum_r row_scale[r] *
// dloss_r/dw. scratch: lm_head_scratch_floats(d, vocab, chunk_rows) floats.
void lm_head_loss(float* losses, float* dx, float* dw, const float* x, const float* w,
                  const std::int32_t* targets, const float* row_scale, int rows, int d, int vocab,
                  HeadPrecision precision, float* scratch, int chunk_rows = 0);

}  // namespace masque::cpu
