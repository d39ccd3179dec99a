// The fused LM head + cross-entropy beyond the op harness (which checks the
// float32 path against float64 with derived tolerances, finite differences
// and thread counts; tests/backend): the bf16 path of `--dtype bf16` against
// float64 with bf16 tolerances and across thread counts, and the composed
// default of Backend::lm_head_loss (what the CUDA backend runs) against the
// fused CPU kernel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/bf16_gemm.h"
#include "backend/cpu/lm_head_loss.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"

namespace masque {
namespace {

struct Problem {
  int rows, d, vocab;
  std::vector<float> x, w, scales;
  std::vector<std::int32_t> targets;
};

// Rows not a multiple of any tile, a masked prompt block and random masked
// rows, logits spread ~2; vocab large enough for several chunks.
Problem make_problem(int rows, int d, int vocab, std::uint64_t seed) {
  Rng rng(seed);
  Problem p{rows, d, vocab, {}, {}, {}, {}};
  auto uniform = [&](double scale) {
    return static_cast<float>((2 * rng.uniform() - 1) * 1.7320508 * scale);
  };
  for (int i = 0; i < rows * d; ++i) p.x.push_back(uniform(1.0));
  for (int i = 0; i < vocab * d; ++i) p.w.push_back(uniform(1.2 / std::sqrt(d)));
  int valid = 0;
  for (int r = 0; r < rows; ++r) {
    const bool masked = r < rows / 4 || rng.uniform() < 0.2;
    p.targets.push_back(masked ? -1 : static_cast<std::int32_t>(rng.below(vocab)));
    valid += masked ? 0 : 1;
  }
  p.scales.assign(rows, 1.0f / static_cast<float>(valid));
  return p;
}

struct Result {
  std::vector<double> losses, dx, dw;
};

Result reference(const Problem& p) {
  Result o{std::vector<double>(p.rows, 0.0), std::vector<double>(p.x.size(), 0.0),
           std::vector<double>(p.w.size(), 0.0)};
  std::vector<double> z(p.vocab);
  for (int r = 0; r < p.rows; ++r) {
    const int t = p.targets[r];
    if (t < 0) continue;
    double m = -INFINITY;
    for (int v = 0; v < p.vocab; ++v) {
      double s = 0;
      for (int j = 0; j < p.d; ++j) s += double(p.x[r * p.d + j]) * p.w[v * p.d + j];
      z[v] = s;
      m = std::max(m, s);
    }
    double sum = 0;
    for (int v = 0; v < p.vocab; ++v) sum += std::exp(z[v] - m);
    const double lse = m + std::log(sum);
    o.losses[r] = lse - z[t];
    for (int v = 0; v < p.vocab; ++v) {
      const double g = p.scales[r] * (std::exp(z[v] - lse) - (v == t ? 1 : 0));
      for (int j = 0; j < p.d; ++j) {
        o.dx[r * p.d + j] += g * p.w[v * p.d + j];
        o.dw[v * p.d + j] += g * p.x[r * p.d + j];
      }
    }
  }
  return o;
}

Result run(const Problem& p, cpu::HeadPrecision precision, int chunk_rows = 0) {
  std::vector<float> losses(p.rows, NAN), dx(p.x.size(), NAN), dw(p.w.size(), 0.0f);
  std::vector<float> scratch(cpu::lm_head_scratch_floats(p.d, p.vocab, precision, chunk_rows));
  cpu::lm_head_loss(losses.data(), dx.data(), dw.data(), p.x.data(), p.w.data(), p.targets.data(),
                    p.scales.data(), p.rows, p.d, p.vocab, precision, scratch.data(), chunk_rows);
  return {{losses.begin(), losses.end()}, {dx.begin(), dx.end()}, {dw.begin(), dw.end()}};
}

// ||a - b|| / ||b||.
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

TEST(LmHeadLoss, Bf16MatchesFloat64WithinBf16Rounding) {
  try {
    cpu::resolve_bf16_kernel(cpu::Bf16Kernel::kAuto);
  } catch (const InputError& e) {
    EXPECT_THROW(cpu_bf16_backend(), InputError);  // the run is refused, not silently f32
    GTEST_SKIP() << "this CPU has no AVX512_BF16: " << e.what();
  }
  // ~94 valid rows: one chunk at the default (2^23 / 20011 = 419 rows), 3
  // chunks of gathered rows at 32.
  const Problem p = make_problem(157, 45, 20011, 5);
  const Result want = reference(p);
  const Result got = run(p, cpu::HeadPrecision::kBf16, 32);
  const Result one_chunk = run(p, cpu::HeadPrecision::kBf16);
  const Result f32 = run(p, cpu::HeadPrecision::kF32, 32);
  // bf16 keeps 8 significant bits (2^-9 relative per operand): the logits
  // of spread ~2 err by ~1e-2 at most, the gradients by ~1% normwise; a
  // wrong index or a missing chunk is O(1).
  double loss_err = 0;
  for (int r = 0; r < p.rows; ++r)
    loss_err = std::max(loss_err, std::abs(got.losses[r] - want.losses[r]));
  EXPECT_LT(loss_err, 3e-2);
  EXPECT_LT(relative_error(got.dx, want.dx), 2e-2);
  EXPECT_LT(relative_error(got.dw, want.dw), 2e-2);
  EXPECT_LT(relative_error(one_chunk.dx, want.dx), 2e-2);
  EXPECT_LT(relative_error(one_chunk.dw, want.dw), 2e-2);
  EXPECT_NE(got.dw, f32.dw) << "bf16 gave float32's bits: the bf16 products did not run";
  EXPECT_LT(relative_error(f32.dx, want.dx), 1e-5);
  for (int threads : {1, 3}) {
    ThreadScope scope(threads);
    const Result again = run(p, cpu::HeadPrecision::kBf16, 32);
    EXPECT_EQ(again.losses, got.losses) << threads << " threads";
    EXPECT_EQ(again.dx, got.dx) << threads << " threads";
    EXPECT_EQ(again.dw, got.dw) << threads << " threads";
  }
}

// Backend::lm_head_loss's composed default (chunks through matmul and the
// cross-entropy ops; the CUDA backend's path) against the fused kernel,
// with DPO-like per-row weights (runs of equal weight).
TEST(LmHeadLoss, ComposedDefaultMatchesFused) {
  Problem p = make_problem(301, 37, 4099, 9);
  for (int r = 0; r < p.rows; ++r) p.scales[r] = 0.01f * static_cast<float>((r / 13) % 5 - 2);
  const Result want = reference(p);
  const Backend& be = cpu_backend();
  Workspace scratch(be);
  std::vector<float> losses(p.rows, NAN), dx(p.x.size(), NAN), dw(p.w.size(), 0.0f);
  be.Backend::lm_head_loss(losses.data(), dx.data(), dw.data(), p.x.data(), p.w.data(),
                           p.targets.data(), p.scales.data(), p.rows, p.d, p.vocab, scratch);
  const Result composed{
      {losses.begin(), losses.end()}, {dx.begin(), dx.end()}, {dw.begin(), dw.end()}};
  const Result fused = run(p, cpu::HeadPrecision::kF32);
  for (const Result* got : {&composed, &fused}) {
    double loss_err = 0;
    for (int r = 0; r < p.rows; ++r)
      loss_err = std::max(loss_err, std::abs(got->losses[r] - want.losses[r]));
    EXPECT_LT(loss_err, 1e-4);
    EXPECT_LT(relative_error(got->dx, want.dx), 1e-5);
    EXPECT_LT(relative_error(got->dw, want.dw), 1e-5);
  }
  for (int r = 0; r < p.rows; ++r) {
    if (p.targets[r] >= 0) continue;
    EXPECT_EQ(composed.losses[r], 0.0);
    for (int j = 0; j < p.d; ++j) ASSERT_EQ(composed.dx[r * p.d + j], 0.0) << "masked row " << r;
  }
}

}  // namespace
}  // namespace masque
