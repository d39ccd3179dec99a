// Benchmark: masque's bf16 GEMM (bf16_gemm.h; each micro-kernel the CPU
// has: AMX, AVX512_BF16) against the OpenBLAS sgemm masque links, at the
// training step's own shapes: every linear layer's forward NT, dinp NN and
// dweight TN, and the LM head's, for issue 3's C1 and C2. GFLOP/s over the
// whole set of shapes, each call the best of --reps, candidates interleaved
// so that a busy machine disturbs them alike.
//
//   bench_bf16_gemm [--config C1|C2|both] [--threads N] [--reps N] [--json]
#include "backend/cpu/bf16_gemm.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "backend/cpu/bf16_convert.h"
#include "bench_args.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/rng.h"
#include "core/threads.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace cpu = masque::cpu;

struct Shape {
  bool ta, tb;
  int m, n, k;
  int count;  // times per training step
  double flops() const { return 2.0 * m * n * k * count; }
};

std::vector<Shape> step_shapes(const std::string& config) {
  int V, T, L, d, ff, B;
  if (config == "C1") {
    V = 4096, T = 256, L = 6, d = 256, ff = 688, B = 16;
  } else if (config == "C2") {
    V = 8192, T = 512, L = 8, d = 512, ff = 1376, B = 8;
  } else if (config == "demo") {  // masque demo's model (depth 2)
    V = 2048, T = 256, L = 2, d = 128, ff = 384, B = 16;
  } else {
    throw masque::InputError("unknown --config: use C1, C2, demo or both");
  }
  const int N = B * T;
  std::vector<Shape> shapes;
  auto linear = [&](int in, int out, int count) {
    shapes.push_back({false, true, N, out, in, count});   // forward: inp @ W^T
    shapes.push_back({false, false, N, in, out, count});  // dinp = dout @ W
    shapes.push_back({true, false, out, in, N, count});   // dweight += dout^T @ inp
  };
  linear(d, 3 * d, L);   // q|k|v
  linear(d, d, L);       // o
  linear(d, 2 * ff, L);  // gate|up
  linear(ff, d, L);      // down
  linear(d, V, 1);       // LM head
  return shapes;
}

double best_seconds(const std::function<void()>& fn, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string config = "both";
    int threads = 0, reps = 3;
    bool json = false;
    masque::bench::BenchArgs("--config C1|C2|both --threads N --reps N --json")
        .value("--config", &config)
        .value("--threads", &threads)
        .value("--reps", &reps)
        .flag("--json", &json)
        .parse(argc, argv);
    masque::set_num_threads(threads);
    std::vector<cpu::Bf16Kernel> kernels;
    if (cpu::cpu_has_amx_bf16()) kernels.push_back(cpu::Bf16Kernel::kAmx);
    if (cpu::cpu_has_avx512_bf16()) kernels.push_back(cpu::Bf16Kernel::kAvx512);
    if (kernels.empty()) cpu::resolve_bf16_kernel(cpu::Bf16Kernel::kAuto);  // throws, naming it
    const std::vector<std::string> configs =
        config == "both" ? std::vector<std::string>{"C1", "C2"} : std::vector<std::string>{config};
    if (!json) std::printf("%-6s %-12s %10s\n", "config", "gemm", "GFLOP/s");
    for (const std::string& name : configs) {
      const std::vector<Shape> shapes = step_shapes(name);
      std::size_t max_a = 0, max_b = 0, max_c = 0;
      for (const auto& s : shapes) {
        max_a = std::max(max_a, static_cast<std::size_t>(s.m) * s.k);
        max_b = std::max(max_b, static_cast<std::size_t>(s.k) * s.n);
        max_c = std::max(max_c, static_cast<std::size_t>(s.m) * s.n);
      }
      masque::Rng rng(1);
      std::vector<float> A(max_a), B(max_b), C(max_c);
      for (auto& x : A) x = static_cast<float>(rng.normal());
      for (auto& x : B) x = static_cast<float>(rng.normal());
      double flops = 0.0;
      for (const auto& s : shapes) flops += s.flops();
      // seconds per step's worth of products, per candidate.
      std::vector<double> seconds(kernels.size() + 1, 0.0);
      for (const auto& s : shapes) {
        const int lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
        for (std::size_t c = 0; c < kernels.size(); ++c) {
          seconds[c] +=
              s.count * best_seconds(
                            [&] {
                              cpu::bf16_gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, A.data(), lda,
                                             B.data(), ldb, 0.0f, C.data(), s.n, kernels[c]);
                            },
                            reps);
        }
        seconds.back() +=
            s.count * best_seconds(
                          [&] {
                            cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans,
                                        s.tb ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f,
                                        A.data(), lda, B.data(), ldb, 0.0f, C.data(), s.n);
                          },
                          reps);
      }
      masque::Json out = {{"config", name}, {"threads", masque::num_threads()}};
      for (std::size_t c = 0; c <= kernels.size(); ++c) {
        const std::string label = c < kernels.size()
                                      ? std::string("bf16_") + cpu::bf16_kernel_name(kernels[c])
                                      : std::string("openblas_sgemm");
        const double gflops = flops / seconds[c] / 1e9;
        out[label + "_gflops"] = gflops;
        if (!json) std::printf("%-6s %-16s %8.1f\n", name.c_str(), label.c_str(), gflops);
      }
      if (json) std::printf("%s\n", out.dump().c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bf16_gemm: %s\n", e.what());
    return 1;
  }
}
