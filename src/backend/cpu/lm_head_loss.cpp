// The fused LM head + cross-entropy (see lm_head_loss.h). Per chunk of up to
// R valid rows (R = lm_head_chunk_rows):
//   logits [n, V] = x_c w^T                        (GEMM, NT)
//   per row, one parallel pass while the row is in L1/L2:
//     m = max, e = exp(logit - m) in place, s = sum e,
//     loss = m + log s - logit[target],  dlogits = row_scale * (e / s - onehot)
//   dx_c [n, d] = dlogits w                        (GEMM, NN)
//   dw [V, d] += dlogits^T x_c                     (GEMM, TN)
// One exp per logit (the unfused pair computed it twice: once for the loss,
// once for the gradient) and one trip of the chunk through memory instead of
// three. The chunk (8-32 MiB of logits) stays in the last-level cache
// between the GEMM that writes it and the GEMMs that read it.
#include "backend/cpu/lm_head_loss.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/bf16_gemm.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/vec_math.h"

namespace masque::cpu {

namespace {

using std::size_t;

void product(HeadPrecision precision, bool trans_a, bool trans_b, int m, int n, int k,
             const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (precision == HeadPrecision::kBf16) {
    bf16_gemm(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  } else {
    sgemm(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  }
}

// One row of logits (overwritten): returns its loss; with backward, the row
// becomes scale * (softmax - onehot(target)).
float row_loss(float* row, int vocab, int target, bool backward, float scale) {
  const float target_logit = row[target];
  const float m = row_max(row, static_cast<size_t>(vocab));
  const float sum = row_exp_sum(row, static_cast<size_t>(vocab), 1.0f, m);
  if (backward) {
    row_scale(row, static_cast<size_t>(vocab), scale / sum);
    row[target] -= scale;
  }
  return m + std::log(sum) - target_logit;
}

}  // namespace

int lm_head_chunk_rows(int vocab, HeadPrecision precision) {
  const bool bf16 = precision == HeadPrecision::kBf16;
  return std::clamp((bf16 ? 1 << 23 : 1 << 22) / std::max(vocab, 1), 64, bf16 ? 1024 : 512);
}

size_t lm_head_scratch_floats(int d, int vocab, HeadPrecision precision, int chunk_rows) {
  const size_t rows =
      static_cast<size_t>(chunk_rows > 0 ? chunk_rows : lm_head_chunk_rows(vocab, precision));
  return rows * (static_cast<size_t>(vocab) + 2 * static_cast<size_t>(d) + 1);
}

void lm_head_loss(float* losses, float* dx, float* dw, const float* x, const float* w,
                  const std::int32_t* targets, const float* row_scales, int rows, int d, int vocab,
                  HeadPrecision precision, float* scratch, int chunk_rows) {
  const bool backward = dx != nullptr;
  const int chunk = chunk_rows > 0 ? chunk_rows : lm_head_chunk_rows(vocab, precision);
  float* logits = scratch;
  float* xg = logits + static_cast<size_t>(chunk) * vocab;  // gathered rows [chunk, d]
  float* dxg = xg + static_cast<size_t>(chunk) * d;         // their gradient [chunk, d]
  auto* picked = reinterpret_cast<std::int32_t*>(dxg + static_cast<size_t>(chunk) * d);
  for (int r = 0; r < rows; ++r) {
    if (targets[r] >= 0) continue;
    losses[r] = 0.0f;
    if (backward) std::memset(dx + static_cast<size_t>(r) * d, 0, sizeof(float) * d);
  }
  int cursor = 0;
  while (true) {
    // The next `n` valid rows; contiguous ones are used in place.
    int n = 0;
    for (; cursor < rows && n < chunk; ++cursor)
      if (targets[cursor] >= 0) picked[n++] = cursor;
    if (n == 0) break;
    const bool contiguous = picked[n - 1] - picked[0] == n - 1;
    const float* xc = x + static_cast<size_t>(picked[0]) * d;
    float* dxc = backward ? dx + static_cast<size_t>(picked[0]) * d : nullptr;
    if (!contiguous) {
      for (int i = 0; i < n; ++i)
        std::memcpy(xg + static_cast<size_t>(i) * d, x + static_cast<size_t>(picked[i]) * d,
                    sizeof(float) * d);
      xc = xg;
      dxc = dxg;
    }
    product(precision, false, true, n, vocab, d, xc, d, w, d, 0.0f, logits, vocab);
#pragma omp parallel for schedule(static) if (static_cast <long>(n) * vocab >= kParallelMinWork)
    for (int i = 0; i < n; ++i) {
      const int r = picked[i];
      losses[r] = row_loss(logits + static_cast<size_t>(i) * vocab, vocab, targets[r], backward,
                           backward ? row_scales[r] : 0.0f);
    }
    if (!backward) continue;
    product(precision, false, false, n, d, vocab, logits, vocab, w, d, 0.0f, dxc, d);
    product(precision, true, false, vocab, d, n, logits, vocab, xc, d, 1.0f, dw, d);
    if (!contiguous) {
      for (int i = 0; i < n; ++i)
        std::memcpy(dx + static_cast<size_t>(picked[i]) * d, dxg + static_cast<size_t>(i) * d,
                    sizeof(float) * d);
    }
  }
}

}  // namespace masque::cpu
