// Training attention at the C1 / C2 step's shapes (fused q|k|v rows, causal,
// B sequences of T tokens), the two CPU implementations side by side in one
// run: the fused AVX-512 kernels (attention_avx512.h) and the AVX2 path
// (per-block sgemm over the block's keys, softmax of the materialized
// scores; what AVX-512 CPUs ran before the fused kernels). Forward and
// backward are timed alternately, best of --reps rounds; --cpu-time times
// by the process's CPU time (a loaded machine disturbs it least; use it
// with --threads 1). GFLOP/s counts the visible (query, key) pairs only,
// 4 * head_dim flops each forward and 2.5x that backward, as bench_ops.
//
//   bench_attention [--config C1|C2|both] [--threads N] [--reps N] [--cpu-time]
//                   [--impl both|sgemm|fused] (one alone: for perf record)
#include "backend/cpu/attention.h"

#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "bench_args.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"

namespace {

bool g_cpu_time = false;

double now_seconds() {
  if (!g_cpu_time) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Config {
  std::string name;
  int B, T, heads, kv_heads, head_dim;
};

Config config_of(const std::string& name) {
  // bench/cpu_train_step.cpp's C1 and C2 (issue 3): d 256 / 512, 8 heads.
  if (name == "C1") return {"C1", 16, 256, 8, 8, 32};
  if (name == "C2") return {"C2", 8, 512, 8, 8, 64};
  throw masque::InputError(masque::cat("unknown config '", name, "': use C1, C2 or both"));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string config = "both";
    std::string impl = "both";
    int threads = 0, reps = 5;
    masque::bench::BenchArgs(
        "--config C1|C2|both --threads N --reps N --cpu-time --impl both|sgemm|fused")
        .value("--config", &config)
        .value("--impl", &impl)
        .value("--threads", &threads)
        .value("--reps", &reps)
        .flag("--cpu-time", &g_cpu_time)
        .parse(argc, argv);
    masque::set_num_threads(threads);
    threads = masque::num_threads();
    omp_set_num_threads(threads);
    std::vector<masque::cpu::CpuIsa> isas;
    if (impl != "fused") isas.push_back(masque::cpu::CpuIsa::kAvx2);
    if (impl != "sgemm" && masque::cpu::cpu_has_avx512())
      isas.push_back(masque::cpu::CpuIsa::kAvx512);
    if (isas.empty())
      throw masque::InputError(
          masque::cat("--impl ", impl, ": use both, sgemm or fused (fused needs AVX-512)"));
    const std::vector<std::string> names =
        config == "both" ? std::vector<std::string>{"C1", "C2"} : std::vector<std::string>{config};
    std::printf("threads %d, best of %d%s; ms per call (GFLOP/s)\n", threads, reps,
                g_cpu_time ? ", process CPU time" : ", wall clock");
    std::printf("%-6s %-36s %22s %22s %22s %22s\n", "config", "shape", "fwd sgemm path",
                "fwd fused avx512", "bwd sgemm path", "bwd fused avx512");
    for (const std::string& name : names) {
      const Config c = config_of(name);
      masque::cpu::AttentionDims d;
      d.B = c.B;
      d.Tq = d.Tk = c.T;
      d.n_heads = c.heads;
      d.n_kv_heads = c.kv_heads;
      d.head_dim = c.head_dim;
      const int q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
      d.ldq = d.ldk = d.ldv = q_dim + 2 * kv_dim;
      d.ldo = q_dim;
      const std::size_t rows = static_cast<std::size_t>(c.B) * c.T;
      masque::Rng rng(1);
      std::vector<float> qkv(rows * d.ldq), dout(rows * d.ldo), out(rows * d.ldo),
          lse(static_cast<std::size_t>(c.B) * c.heads * c.T), dqkv(qkv.size());
      for (auto& x : qkv) x = static_cast<float>(0.5 * rng.normal());
      for (auto& x : dout) x = static_cast<float>(rng.normal());
      std::size_t scratch_floats = 0;
      for (auto isa : isas)
        scratch_floats =
            std::max(scratch_floats, masque::cpu::attention_scratch_floats(d, threads, isa));
      std::vector<float> scratch(scratch_floats);
      const float* q = qkv.data();
      const float* k = q + q_dim;
      const float* v = k + kv_dim;
      std::vector<double> fwd(isas.size(), 1e30), bwd(isas.size(), 1e30);
      for (int r = 0; r <= reps; ++r) {  // round 0 warms
        for (std::size_t i = 0; i < isas.size(); ++i) {
          double t0 = now_seconds();
          masque::cpu::attention_forward(out.data(), lse.data(), q, k, v, d, scratch.data(),
                                         threads, isas[i]);
          const double tf = now_seconds() - t0;
          t0 = now_seconds();
          masque::cpu::attention_backward(dqkv.data(), dqkv.data() + q_dim,
                                          dqkv.data() + q_dim + kv_dim, dout.data(), out.data(),
                                          lse.data(), q, k, v, d, scratch.data(), threads, isas[i]);
          const double tb = now_seconds() - t0;
          if (r > 0) {
            fwd[i] = std::min(fwd[i], tf);
            bwd[i] = std::min(bwd[i], tb);
          }
        }
      }
      const double pairs = static_cast<double>(c.B) * c.heads * c.T * (c.T + 1) / 2.0;
      const double flops = 4.0 * pairs * c.head_dim;
      auto cell = [](double s, double f) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.2f (%.1f)", s * 1e3, f / s / 1e9);
        return std::string(buf);
      };
      std::printf(
          "%-6s %-36s", c.name.c_str(),
          masque::cat("B ", c.B, " T ", c.T, " heads ", c.heads, " head_dim ", c.head_dim).c_str());
      // Columns by implementation; one not run prints "-".
      auto column = [&](masque::cpu::CpuIsa isa, const std::vector<double>& t, double f) {
        for (std::size_t i = 0; i < isas.size(); ++i)
          if (isas[i] == isa) return cell(t[i], f);
        return std::string("-");
      };
      for (const auto& t : {std::make_pair(&fwd, flops), std::make_pair(&bwd, 2.5 * flops)}) {
        std::printf(" %22s", column(masque::cpu::CpuIsa::kAvx2, *t.first, t.second).c_str());
        std::printf(" %22s", column(masque::cpu::CpuIsa::kAvx512, *t.first, t.second).c_str());
      }
      std::printf("\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention: error: %s\n", e.what());
    return 1;
  }
}
