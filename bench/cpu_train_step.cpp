// Benchmark: one full training step (zero_grad, forward, backward, AdamW) of
// masque's CPU model at the configurations, plus masque's GEMM rate
// at the step's own GEMM shapes. Where the step's time goes, op by
// op: bench_ops (bench/ops.cpp, the op harness's perf mode).
//
//   bench_cpu_train_step --config C2 --steps 5 --warmup 1 [--dtype f32|bf16] [--sgemm]
//                        [--cpu-time] [--json]
//
// --cpu-time times each step by the process's CPU time (all threads) instead
// of the wall clock: with --threads 1 on a shared machine that is the step's
// own cost, undisturbed by other processes' use of the cores.
//
// Prints one JSON line with --json (bench/cpu_train_step.sh builds the table
// from it, next to PyTorch's numbers).
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/dtype.h"
#include "bench_args.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/rng.h"
#include "core/threads.h"
#include "model/model.h"
#include "train/adamw.h"

namespace {

using Clock = std::chrono::steady_clock;

struct BenchConfig {
  std::string name;
  int vocab, seq, layers, dim, heads, ff, batch;
};

BenchConfig lookup(const std::string& name) {
  if (name == "C1") return {"C1", 4096, 256, 6, 256, 8, 688, 16};
  if (name == "C2") return {"C2", 8192, 512, 8, 512, 8, 1376, 8};
  if (name == "tiny") return {"tiny", 512, 64, 2, 64, 4, 176, 4};
  throw masque::InputError(masque::cat("unknown config '", name, "': use C1, C2 or tiny"));
}

masque::ModelConfig model_config(const BenchConfig& b) {
  masque::ModelConfig c;
  c.vocab_size = b.vocab;
  c.hidden_size = b.dim;
  c.intermediate_size = b.ff;
  c.num_hidden_layers = b.layers;
  c.num_attention_heads = b.heads;
  c.num_key_value_heads = b.heads;
  c.head_dim = b.dim / b.heads;
  c.max_position_embeddings = b.seq;
  c.rms_norm_eps = 1e-5f;
  c.tie_word_embeddings = false;  // as HF LlamaForCausalLM's default, and the PyTorch anchor
  return c;
}

double seconds_of(const std::function<void()>& fn, int repeats) {
  fn();  // warm
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// GEMM shapes of one step (forward NT, backward NN for dinp, TN for dweight),
// each counted once per layer; returns the GFLOP/s masque's GEMM (cpu/gemm.h,
// what the step runs) achieves over the whole set. The other candidates and
// the AVX-512 ceiling: bench_gemm_ceiling.
double sgemm_gflops(const BenchConfig& b) {
  const int N = b.batch * b.seq;
  struct Shape {
    int m, n, k;
    CBLAS_TRANSPOSE ta, tb;
  };
  std::vector<Shape> shapes;
  auto linear = [&](int rows, int in, int out) {
    shapes.push_back({rows, out, in, CblasNoTrans, CblasTrans});    // forward
    shapes.push_back({rows, in, out, CblasNoTrans, CblasNoTrans});  // dinp
    shapes.push_back({out, in, rows, CblasTrans, CblasNoTrans});    // dweight
  };
  linear(N, b.dim, 3 * b.dim);
  linear(N, b.dim, b.dim);
  linear(N, b.dim, 2 * b.ff);
  linear(N, b.ff, b.dim);
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
  for (const auto& s : shapes) flops += 2.0 * s.m * s.n * s.k;
  const double seconds = seconds_of(
      [&] {
        for (const auto& s : shapes) {
          const int lda = s.ta == CblasNoTrans ? s.k : s.m;
          const int ldb = s.tb == CblasNoTrans ? s.n : s.k;
          masque::cpu::sgemm(s.ta == CblasTrans, s.tb == CblasTrans, s.m, s.n, s.k, 1.0f, A.data(),
                             lda, B.data(), ldb, 0.0f, C.data(), s.n);
        }
      },
      3);
  return flops / seconds / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string config = "C2", dtype = "f32";
    int steps = 5, warmup = 1, threads = 0;
    bool json = false, with_sgemm = false, cpu_time = false;
    masque::bench::BenchArgs(
        "--config C1|C2|tiny --steps N --warmup N --threads N --dtype f32|bf16 --sgemm --cpu-time "
        "--json "
        "(per-op profile: bench_ops)")
        .value("--config", &config)
        .value("--steps", &steps)
        .value("--warmup", &warmup)
        .value("--threads", &threads)
        .flag("--json", &json)
        .value("--dtype", &dtype)
        .flag("--sgemm", &with_sgemm)
        .flag("--cpu-time", &cpu_time)
        .parse(argc, argv);
    if (steps < 1) throw masque::InputError("--steps must be at least 1");
    masque::set_num_threads(threads);
    const BenchConfig b = lookup(config);
    const masque::ModelConfig cfg = model_config(b);
    masque::Model model(cfg, masque::backend_for_dtype(dtype));
    model.init_weights(1234);
    model.reserve(b.batch, b.seq);
    masque::AdamW optimizer(model, masque::AdamWConfig{});
    masque::Rng rng(99);
    const std::size_t n = static_cast<std::size_t>(b.batch) * (b.seq + 1);
    std::vector<std::int32_t> stream(n);
    for (auto& t : stream) t = static_cast<std::int32_t>(rng.below(b.vocab));
    std::vector<std::int32_t> tokens, targets;
    for (int r = 0; r < b.batch; ++r) {
      const auto* row = stream.data() + static_cast<std::size_t>(r) * (b.seq + 1);
      tokens.insert(tokens.end(), row, row + b.seq);
      targets.insert(targets.end(), row + 1, row + 1 + b.seq);
    }
    std::vector<double> times;
    float loss = 0.0f;
    for (int step = 0; step < warmup + steps; ++step) {
      const auto start = Clock::now();
      const double cpu_start = process_cpu_seconds();
      model.zero_grad();
      loss = model.forward_backward(tokens.data(), targets.data(), b.batch, b.seq);
      optimizer.step(1e-3f);
      const double seconds = cpu_time ? process_cpu_seconds() - cpu_start
                                      : std::chrono::duration<double>(Clock::now() - start).count();
      if (step >= warmup) times.push_back(seconds);
      if (!json) std::printf("step %d: %.3f s, loss %.4f\n", step, seconds, loss);
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double tokens_per_s = b.batch * b.seq / median;
    const double gflops = cfg.train_flops_per_token(b.seq) * tokens_per_s / 1e9;
    const double sgemm = with_sgemm ? sgemm_gflops(b) : 0.0;
    masque::Json out = {{"impl", dtype == "f32" ? "masque" : "masque-" + dtype},
                        {"dtype", dtype},
                        {"config", b.name},
                        {"threads", masque::num_threads()},
                        {"clock", cpu_time ? "cpu" : "wall"},
                        {"params", model.num_params()},
                        {"step_s_median", median},
                        {"step_s_min", times.front()},
                        {"tokens_per_s", tokens_per_s},
                        {"model_gflops", gflops},
                        {"flops_per_token", cfg.train_flops_per_token(b.seq)},
                        {"sgemm_gflops", sgemm},
                        {"final_loss", loss},
                        {"peak_rss_mib", peak_rss_mib()}};
    if (json) {
      std::printf("%s\n", out.dump().c_str());
    } else {
      std::printf("%s: %.0f tokens/s%s, %.1f model GFLOP/s", b.name.c_str(), tokens_per_s,
                  cpu_time ? " per CPU-second" : "", gflops);
      if (with_sgemm) std::printf(", sgemm %.1f GFLOP/s (%.0f%%)", sgemm, 100.0 * gflops / sgemm);
      std::printf(", peak RSS %.0f MiB\n", peak_rss_mib());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cpu_train_step: error: %s\n", e.what());
    return 1;
  }
}
