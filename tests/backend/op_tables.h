// The op tables: one source of truth for which cases exist.
// - random_cases: every Backend op at shapes drawn from a seeded Rng, with
//   sizes that are not multiples of any block or vector width (1, 7, 33, 65,
//   129, ...), and at least one case per op above the CPU kernels' parallel
//   threshold (kParallelMinWork) so thread splits are exercised too. Run by
//   tests/backend/test_op_cases.cpp on every backend present.
// - training_step_cases: the ops of one training step of a model config at
//   their real shapes, with how many times each runs per step. Timed by
//   bench/ops.cpp (the perf mode).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "op_cases.h"
#include "op_cases_attention.h"

namespace masque::optest {

inline float pick_float(Rng& rng, std::initializer_list<float> options) {
  return options.begin()[rng.below(options.size())];
}
inline std::vector<std::int32_t> random_positions(int rows, int max_pos, Rng& rng) {
  std::vector<std::int32_t> p(sz(rows));
  for (auto& v : p) v = static_cast<std::int32_t>(rng.below(sz(max_pos)));
  return p;
}

inline std::vector<OpCase> random_cases(std::uint64_t seed = 20261124) {
  Rng rng(seed);
  std::vector<OpCase> t;
  // Draws are sequenced statement by statement (argument evaluation order is
  // unspecified), so a seed gives the same table with every compiler.
  auto odd = [&] { return pick(rng, {1, 7, 33, 65, 129}); };
  auto mid = [&] { return pick(rng, {7, 33, 65}); };
  auto odd3 = [&] {
    std::array<int, 3> v{};
    for (int& x : v) x = odd();
    return v;
  };
  constexpr int kBig = 70001;  // above every elementwise op's parallel threshold (4 * 2^14)

  // Linear algebra: every transpose pair, once with beta = 0 (C NaN, not read)
  // and once with beta != 0; padded leading dimensions.
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      for (int with_beta = 0; with_beta < 2; ++with_beta) {
        const auto [m, n, k] = odd3();
        const float alpha = pick_float(rng, {1.0f, -0.5f, 2.0f});
        const float beta = with_beta ? pick_float(rng, {1.0f, 0.25f, -1.5f}) : 0.0f;
        const int pad = pick(rng, {0, 3});
        t.push_back(gemm_case(ta, tb, m, n, k, alpha, beta, pad, rng));
      }
    }
  }
  for (int acc = 0; acc < 2; ++acc) {
    const auto [rows, in, out] = odd3();
    t.push_back(matmul_forward_case(rows, in, out, acc, rng));
  }
  t.push_back(matmul_forward_case(257, 129, 65, true, rng));
  // One row: decoding one sequence (a matrix-vector product on the CPU).
  t.push_back(matmul_forward_case(1, 65, 129, false, rng));
  t.push_back(matmul_forward_case(1, 129, 33, true, rng));
  // A few rows (batched decoding: the CPU's skinny kernels up to 32 rows),
  // with `in` and `out` off every vector width and tile size.
  for (int rows : {2, 5, 7, 16, 31, 32, 33}) {
    t.push_back(matmul_forward_case(rows, pick(rng, {17, 65, 256, 689}), pick(rng, {3, 66, 257}),
                                    rows % 2 == 1, rng));
  }
  for (auto [dinp, dweight] :
       {std::pair{true, true}, std::pair{false, true}, std::pair{true, false}}) {
    const auto [rows, in, out] = odd3();
    t.push_back(matmul_backward_case(rows, in, out, dinp, dweight, rng));
  }
  t.push_back(matmul_backward_case(257, 65, 129, true, true, rng));

  // Memory and elementwise.
  t.push_back(copy_case(1000, 3, 17, 500, rng));
  t.push_back(copy_case(kBig, 0, 0, kBig, rng));
  t.push_back(fill_zero_case(100, 7, 65, rng));
  t.push_back(fill_zero_case(kBig, 1, kBig - 2, rng));
  const int n_add = odd();
  t.push_back(add_inplace_case(n_add, rng));
  t.push_back(add_inplace_case(kBig, rng));
  const int n_scale = odd();
  t.push_back(scale_inplace_case(n_scale, -0.37f, rng));
  t.push_back(scale_inplace_case(kBig, 3.0f, rng));
  t.push_back(sum_squares_case(1, rng));
  const int n_sum = odd();
  t.push_back(sum_squares_case(n_sum, rng));
  t.push_back(sum_squares_case(3 * (1 << 14) + 7, rng));

  // Embedding: repeated tokens (3 distinct ids) and spread ones.
  const auto [emb_rows, emb_dim, emb_rows2] = odd3();
  t.push_back(embedding_forward_case(emb_rows, 11, emb_dim, rng));
  t.push_back(embedding_forward_case(257, 129, 65, rng));
  t.push_back(embedding_backward_case(emb_rows2, 11, emb_dim, 3, rng));
  t.push_back(embedding_backward_case(257, 129, 65, 3, rng));
  t.push_back(embedding_backward_case(65, 129, 33, 129, rng));

  // RMSNorm (a zero row: mean square 0).
  const auto [norm_rows, norm_dim, norm_rows2] = odd3();
  t.push_back(rmsnorm_forward_case(norm_rows, norm_dim, 1e-5f, true, true, rng));
  t.push_back(rmsnorm_forward_case(257, 129, 1e-6f, false, false, rng));
  t.push_back(rmsnorm_forward_case(7, 4097, 1e-5f, true, false, rng));
  t.push_back(rmsnorm_apply_case(norm_rows2, norm_dim, rng));
  t.push_back(rmsnorm_apply_case(257, 129, rng));
  t.push_back(rmsnorm_backward_case(norm_rows2, mid(), 1e-5f, true, rng));
  t.push_back(rmsnorm_backward_case(257, 129, 1e-5f, false, rng));

  // RoPE: per-row positions in any order; q at column 0 and k at q_dim of a
  // fused q|k|v row, as the model calls it; odd half widths (head_dim 2, 10, 34, 66).
  for (int backward = 0; backward < 2; ++backward) {
    const int rows = odd();
    const int hd = pick(rng, {2, 10, 34, 66});
    const int H = pick(rng, {1, 3, 4}), Hkv = H == 4 ? 2 : H;
    const int ld = (H + 2 * Hkv) * hd;
    auto pos = random_positions(rows, 300, rng);
    t.push_back(rope_case(backward, rows, 0, H, hd, ld, 300, std::move(pos), rng));
    pos = random_positions(rows, 300, rng);
    t.push_back(rope_case(backward, rows, H * hd, Hkv, hd, ld, 300, std::move(pos), rng));
    pos = random_positions(129, 129, rng);
    t.push_back(rope_case(backward, 129, 0, 4, 34, 4 * 34 + 5, 129, std::move(pos), rng));
  }

  // Attention: ragged lists (prefill from 0 over 2 query blocks, decode, a
  // prefill after a cached prefix, keys beyond the last query masked), GQA;
  // a batch of decodes (n_q = 1) over caches of odd lengths; training's fused
  // layout with 3 query blocks; head_dim above the vector width.
  t.push_back(
      attention_forward_case({{65, 0, 65}, {1, 32, 33}, {70, 20, 90}, {1, 0, 1}, {7, 3, 12}}, 6, 2,
                             7, false, 3, 2, true, rng));
  {
    std::vector<SeqSpec> decode;
    for (int i = 0; i < 5; ++i) {
      const int n_k = odd();
      decode.push_back({1, n_k - 1, n_k});
    }
    t.push_back(attention_forward_case(decode, 4, 1, 33, false, 0, 0, false, rng));
  }
  // The CPU's decode kernels that keep q and the output in registers
  // (head_dim 32, 64, 128): one to four query rows after cached prefixes,
  // key counts that are not multiples of 4, a sequence's first token.
  for (const int hd : {32, 64, 128}) {
    t.push_back(
        attention_forward_case({{1, 36, 37}, {4, 10, 14}, {2, 0, 2}, {3, 60, 63}, {1, 0, 1}}, 4, 2,
                               hd, false, 1, 2, true, rng));
  }
  t.push_back(
      attention_forward_case({{129, 0, 129}, {129, 0, 129}}, 4, 2, 8, true, 0, 0, true, rng));
  const int n_q = mid();
  t.push_back(
      attention_forward_case({{n_q, 0, 129}, {33, 96, 129}}, 3, 3, 65, false, 1, 1, true, rng));
  t.push_back(attention_backward_case(2, 67, 4, 2, 6, 0, rng));
  t.push_back(attention_backward_case(1, 129, 3, 3, 17, 3, rng));
  t.push_back(attention_backward_case(3, 7, 2, 1, 1, 0, rng));
  // The fused AVX-512 kernels' fast shapes (head_dim 32, 64: whole vectors)
  // across a 64-key tile boundary, with grouped KV heads.
  t.push_back(attention_backward_case(1, 70, 2, 1, 32, 0, rng));
  t.push_back(attention_backward_case(1, 67, 2, 2, 64, 2, rng));

  // SwiGLU: saturated gates (exp over/underflow); the in-place backward.
  const auto [sw_rows, sw_ff, sw_rows2] = odd3();
  t.push_back(swiglu_forward_case(sw_rows, sw_ff, true, rng));
  t.push_back(swiglu_forward_case(129, 129, false, rng));
  t.push_back(swiglu_backward_case(sw_rows2, sw_ff, true, true, rng));
  t.push_back(swiglu_backward_case(sw_rows, mid(), false, false, rng));
  t.push_back(swiglu_backward_case(129, 129, true, true, rng));

  // Cross-entropy: ignored targets (-1), a real vocabulary, the in-place backward.
  t.push_back(cross_entropy_forward_case(9, 37, 0.3, 2.0, rng));
  t.push_back(cross_entropy_forward_case(33, 4096, 0.1, 3.0, rng));
  t.push_back(cross_entropy_forward_case(1, 7, 0.0, 1.0, rng));
  t.push_back(cross_entropy_backward_case(9, 37, 0.3, 2.0, 0.1f, true, rng));
  t.push_back(cross_entropy_backward_case(65, 129, 0.5, 2.0, 0.7f / 33, false, rng));
  t.push_back(cross_entropy_backward_case(33, 4096, 0.1, 3.0, 1.0f / 30, true, rng));

  // The fused LM head: finite differences on small shapes (uniform and
  // DPO-like weights), a loss-only call, a real vocabulary, and one large
  // enough that the CPU's chunks (backend/cpu/lm_head_loss.h: 64 rows at
  // vocab 70001) split ~140 valid rows in 3, gathered around masked rows.
  t.push_back(lm_head_loss_case(11, 13, 37, 0.3, false, true, true, rng));
  t.push_back(lm_head_loss_case(9, 13, 37, 0.3, true, true, true, rng));
  t.push_back(lm_head_loss_case(40, 17, 1000, 0.5, false, false, false, rng));
  t.push_back(lm_head_loss_case(300, 33, 4099, 0.2, false, true, false, rng));
  t.push_back(lm_head_loss_case(260, 5, 70001, 0.2, true, true, false, rng));

  // AdamW: masked and unmasked, first step (bias corrections large) and late.
  t.push_back(adamw_case(1000, true, 1, rng));
  t.push_back(adamw_case(7, true, 3, rng));
  t.push_back(adamw_case(kBig, false, 1000, rng));

  // Interventions: some rows, all rows, rows listed twice, dim 1.
  const auto [dim_a, dim_b, dim_c] = odd3();
  t.push_back(add_vector_rows_case(33, dim_a, 5, 0.5f, rng));
  t.push_back(add_vector_rows_case(129, 7, 129, -2.0f, rng, 9));
  t.push_back(project_out_rows_case(33, dim_b, 7, rng, 2));
  t.push_back(project_out_rows_case(129, 129, 129, rng));
  t.push_back(project_out_rows_case(7, 1, 3, rng));
  t.push_back(gather_rows_case(33, dim_c, 5, rng));
  t.push_back(gather_rows_case(7, 129, 7, rng));
  return t;
}

// A training step's sizes (bench/cpu_train_step.cpp's configurations).
struct StepShape {
  std::string name;
  int vocab = 0, seq = 0, layers = 0, dim = 0, heads = 0, kv_heads = 0, ff = 0, batch = 0;
};

// Rows per chunk of Backend::lm_head_loss's composed default (~4M logits).
inline int ce_chunk_rows(int vocab) { return std::clamp((1 << 22) / vocab, 64, 1024); }

inline std::size_t step_params(const StepShape& s) {
  const std::size_t d = sz(s.dim), hd = sz(s.dim / s.heads), q = sz(s.heads) * hd,
                    kv = sz(s.kv_heads) * hd;
  const std::size_t layer = d * (q + 2 * kv) + q * d + d * 2 * sz(s.ff) + sz(s.ff) * d + 2 * d;
  return 2 * sz(s.vocab) * d + sz(s.layers) * layer + d;  // untied embedding and head, final norm
}

// The ops of one training step (forward, backward, optimizer) in the order
// the decoder block runs them (model/decoder_block.cpp, model_step.cpp), each
// with its count per step; then ops a plain step does not run (count 0:
// interventions, batched decoding) for reference. Built one at a time
// (`visit`), so only one case's arrays exist at once.
inline void training_step_cases(const StepShape& s, const std::function<void(OpCase)>& visit) {
  Rng rng(7);
  const int L = s.layers, N = s.batch * s.seq, d = s.dim, H = s.heads, Hkv = s.kv_heads,
            hd = s.dim / s.heads;
  const int q_dim = H * hd, kv_dim = Hkv * hd, qkv = q_dim + 2 * kv_dim, ff = s.ff, V = s.vocab;
  const int chunk = ce_chunk_rows(V), chunks = (N + chunk - 1) / chunk;
  const int n_params = static_cast<int>(step_params(s));
  auto emit = [&](OpCase c, int per_step, std::string label) {
    c.per_step = per_step;
    c.shape = std::move(label) + ": " + c.shape;
    visit(std::move(c));
  };
  auto positions = [&] {
    std::vector<std::int32_t> p(sz(N));
    for (int i = 0; i < N; ++i) p[i] = i % s.seq;
    return p;
  };
  const std::vector<SeqSpec> batch(sz(s.batch), SeqSpec{s.seq, 0, s.seq});
  // Forward.
  emit(embedding_forward_case(N, V, d, rng), 1, "embed");
  emit(rmsnorm_forward_case(N, d, 1e-5f, true, false, rng), 2 * L + 1, "norms");
  emit(matmul_forward_case(N, d, qkv, false, rng), L, "qkv");
  emit(rope_case(false, N, 0, H, hd, qkv, s.seq, positions(), rng), L, "q");
  emit(rope_case(false, N, q_dim, Hkv, hd, qkv, s.seq, positions(), rng), L, "k");
  emit(attention_forward_case(batch, H, Hkv, hd, true, 0, 0, true, rng), L, "training batch");
  emit(copy_case(N * d, 0, 0, N * d, rng), 2 * L, "residual");
  emit(matmul_forward_case(N, q_dim, d, true, rng), L, "o");
  emit(matmul_forward_case(N, d, 2 * ff, false, rng), L, "gate|up");
  emit(swiglu_forward_case(N, ff, false, rng), 2 * L, "fwd + bwd recompute");
  emit(matmul_forward_case(N, ff, d, true, rng), L, "down");
  // LM head fused with the cross-entropy (every row a target, as in pretraining).
  emit(lm_head_loss_case(N, d, V, 0.0, false, true, false, rng), 1, "fused");
  // The same unfused, as Backend::lm_head_loss's default composes it (count
  // 0: for comparison).
  emit(matmul_forward_case(chunk, d, V, false, rng), 0,
       "unfused lm head x" + std::to_string(chunks));
  emit(cross_entropy_forward_case(chunk, V, 0.0, 2.0, rng), 0, "unfused chunk");
  emit(cross_entropy_backward_case(chunk, V, 0.0, 2.0, 1.0f / N, true, rng), 0,
       "unfused chunk, in place");
  emit(matmul_backward_case(chunk, d, V, true, true, rng), 0, "unfused lm head");
  // Backward, block by block.
  emit(fill_zero_case(N * d, 0, N * d, rng), 1, "dres");
  emit(rmsnorm_backward_case(N, d, 1e-5f, false, rng), 2 * L + 1, "norms");
  emit(matmul_backward_case(N, ff, d, false, true, rng), L, "down dweight");
  emit(matmul_backward_case(N, ff, d, true, false, rng), L, "down dinp");
  emit(swiglu_backward_case(N, ff, false, true, rng), L, "in place");
  emit(rmsnorm_apply_case(N, d, rng), 2 * L, "recompute");
  emit(matmul_backward_case(N, d, 2 * ff, true, true, rng), L, "gate|up");
  emit(matmul_backward_case(N, q_dim, d, true, true, rng), L, "o");
  emit(attention_backward_case(s.batch, s.seq, H, Hkv, hd, 0, rng), L, "training batch");
  emit(rope_case(true, N, 0, H, hd, qkv, s.seq, positions(), rng), L, "q");
  emit(rope_case(true, N, q_dim, Hkv, hd, qkv, s.seq, positions(), rng), L, "k");
  emit(matmul_backward_case(N, d, qkv, true, true, rng), L, "qkv");
  emit(embedding_backward_case(N, V, d, V, rng), 1, "embed");
  // Optimizer over all parameters (one flat array, as the model keeps them).
  emit(fill_zero_case(n_params, 0, n_params, rng), 1, "zero_grad");
  emit(sum_squares_case(n_params, rng), 1, "grad norm");
  emit(scale_inplace_case(n_params, 0.999f, rng), 1, "grad clip");
  emit(adamw_case(n_params, true, 10, rng), 1, "all params");
  // Not in a plain step.
  std::vector<SeqSpec> decode;
  for (int i = 0; i < 16; ++i) decode.push_back({1, s.seq - 1, s.seq});
  emit(attention_forward_case(decode, H, Hkv, hd, false, 0, 0, false, rng), 0, "decode 16 seqs");
  emit(add_inplace_case(N * d, rng), 0, "intervention residual");
  emit(add_vector_rows_case(N, d, N, 4.0f, rng), 0, "steering, all rows");
  emit(project_out_rows_case(N, d, N, rng), 0, "ablation, all rows");
  emit(gather_rows_case(N, d, N / 2, rng), 0, "observe half the rows");
}

}  // namespace masque::optest
