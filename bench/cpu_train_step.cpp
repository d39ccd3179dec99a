// Benchmark: one full training step (zero_grad, forward, backward, AdamW) of
// masque's CPU model at the configurations, plus the OpenBLAS sgemm
// ceiling at the step's own GEMM shapes, and (--profile) a per-op breakdown
// that times each kernel standalone at the model's shapes.
//
//   bench_cpu_train_step --config C2 --steps 5 --warmup 1 [--sgemm] [--profile | --profile-only] [--json]
//
// Prints one JSON line with --json (bench/cpu_train_step.sh builds the table
// from it, next to PyTorch's numbers).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <cblas.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/cross_entropy.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/swiglu.h"
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

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// GEMM shapes of one step (forward NT, backward NN for dinp, TN for dweight),
// each counted once per layer; returns achieved GFLOP/s over the whole set.
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
          cblas_sgemm(CblasRowMajor, s.ta, s.tb, s.m, s.n, s.k, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(),
                      s.n);
        }
      },
      3);
  return flops / seconds / 1e9;
}

// Standalone timing of each kernel at the step's shapes, times its count per
// step: where the step's time goes (perf is not available on these machines).
void profile(const BenchConfig& b) {
  using namespace masque::cpu;
  const int N = b.batch * b.seq, d = b.dim, ff = b.ff, H = b.heads, hd = d / H, V = b.vocab, L = b.layers;
  const int qkv = 3 * d;
  masque::Rng rng(3);
  auto rnd = [&](std::size_t n, float s = 1.0f) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(rng.normal()) * s;
    return v;
  };
  auto x = rnd(static_cast<std::size_t>(N) * d), y = rnd(static_cast<std::size_t>(N) * d);
  auto wq = rnd(static_cast<std::size_t>(qkv) * d, 0.05f), wgu = rnd(2ull * ff * d, 0.05f),
       wd = rnd(static_cast<std::size_t>(d) * ff, 0.05f), wo = rnd(static_cast<std::size_t>(d) * d, 0.05f);
  auto bq = rnd(static_cast<std::size_t>(N) * qkv), bgu = rnd(2ull * N * ff), bh = rnd(static_cast<std::size_t>(N) * ff);
  auto att = rnd(static_cast<std::size_t>(N) * d), lse = rnd(static_cast<std::size_t>(N) * H), rstd = rnd(N);
  for (auto& r : rstd) r = 1.0f + 0.1f * r;
  auto dw = rnd(std::max<std::size_t>(2ull * ff * d, static_cast<std::size_t>(qkv) * d));
  auto wn = rnd(d), dwn = rnd(d);
  const int chunk = std::clamp((1 << 22) / V, 64, 1024);
  auto lm = rnd(static_cast<std::size_t>(V) * d, 0.05f), logits = rnd(static_cast<std::size_t>(chunk) * V);
  std::vector<std::int32_t> targets(N), tokens(N);
  for (int i = 0; i < N; ++i) targets[i] = tokens[i] = static_cast<std::int32_t>(rng.below(V));
  auto tables = make_rope_tables(b.seq, hd, 10000.0);
  AttentionDims dims;
  dims.B = b.batch;
  dims.Tq = dims.Tk = b.seq;
  dims.n_heads = dims.n_kv_heads = H;
  dims.head_dim = hd;
  dims.ldq = dims.ldk = dims.ldv = qkv;
  dims.ldo = d;
  const int threads = masque::num_threads();
  std::vector<float> scratch(attention_scratch_floats(dims, threads));
  auto dq = rnd(static_cast<std::size_t>(N) * qkv);
  auto emb = rnd(static_cast<std::size_t>(V) * d), demb = rnd(static_cast<std::size_t>(V) * d);

  struct Row {
    const char* name;
    double seconds;
    int count;
  };
  std::vector<Row> rows;
  auto add = [&](const char* name, int count, const std::function<void()>& fn) {
    rows.push_back({name, seconds_of(fn, 3), count});
  };
  add("matmul fwd qkv", L, [&] { matmul_forward(bq.data(), x.data(), wq.data(), N, d, qkv); });
  add("matmul fwd o", L, [&] { matmul_forward_add(y.data(), att.data(), wo.data(), N, d, d); });
  add("matmul fwd gate|up", L, [&] { matmul_forward(bgu.data(), x.data(), wgu.data(), N, d, 2 * ff); });
  add("matmul fwd down", L, [&] { matmul_forward_add(y.data(), bh.data(), wd.data(), N, ff, d); });
  add("matmul bwd qkv", L, [&] { matmul_backward(y.data(), dw.data(), bq.data(), x.data(), wq.data(), N, d, qkv); });
  add("matmul bwd o", L, [&] { matmul_backward(att.data(), dw.data(), y.data(), att.data(), wo.data(), N, d, d); });
  add("matmul bwd gate|up", L, [&] { matmul_backward(y.data(), dw.data(), bgu.data(), x.data(), wgu.data(), N, d, 2 * ff); });
  add("matmul bwd down", L, [&] {
    matmul_backward(nullptr, dw.data(), y.data(), bh.data(), wd.data(), N, ff, d);
    matmul_backward(bh.data(), nullptr, y.data(), nullptr, wd.data(), N, ff, d);
  });
  add("attention fwd", L, [&] {
    attention_forward(att.data(), lse.data(), bq.data(), bq.data() + d, bq.data() + 2 * d, dims, scratch.data(), threads);
  });
  add("attention bwd", L, [&] {
    attention_backward(dq.data(), dq.data() + d, dq.data() + 2 * d, att.data(), att.data(), lse.data(), bq.data(),
                       bq.data() + d, bq.data() + 2 * d, dims, scratch.data(), threads);
  });
  for (int block : {32, 128}) {
    AttentionDims alt = dims;
    alt.block = block;
    std::vector<float> alt_scratch(attention_scratch_floats(alt, threads));
    add(block == 32 ? "  (variant) attention fwd+bwd block 32" : "  (variant) attention fwd+bwd block 128",
        0, [&] {
          attention_forward(att.data(), lse.data(), bq.data(), bq.data() + d, bq.data() + 2 * d, alt,
                            alt_scratch.data(), threads);
          attention_backward(dq.data(), dq.data() + d, dq.data() + 2 * d, att.data(), att.data(), lse.data(),
                             bq.data(), bq.data() + d, bq.data() + 2 * d, alt, alt_scratch.data(), threads);
        });
  }
  add("rope fwd+bwd (q,k)", 2 * L, [&] { rope_forward(bq.data(), b.batch, b.seq, 2 * H, hd, qkv, 0, tables); });
  add("rmsnorm fwd", 2 * L + 1, [&] { rmsnorm_forward(y.data(), rstd.data(), x.data(), wn.data(), N, d, 1e-5f); });
  add("rmsnorm apply (bwd recompute)", 2 * L, [&] { rmsnorm_apply(y.data(), rstd.data(), x.data(), wn.data(), N, d); });
  add("rmsnorm bwd", 2 * L + 1, [&] {
    rmsnorm_backward(y.data(), dwn.data(), x.data(), x.data(), wn.data(), rstd.data(), N, d);
  });
  add("swiglu fwd (+bwd recompute)", 2 * L, [&] { swiglu_forward(bh.data(), bgu.data(), N, ff); });
  add("swiglu bwd", L, [&] { swiglu_backward(bgu.data(), bh.data(), bgu.data(), N, ff); });
  add("lm head + cross-entropy (fwd+bwd)", 1, [&] {
    for (int r0 = 0; r0 < N; r0 += chunk) {
      const int count = std::min(chunk, N - r0);
      matmul_forward(logits.data(), x.data() + static_cast<std::size_t>(r0) * d, lm.data(), count, d, V);
      softmax_cross_entropy_forward(rstd.data() + r0, lse.data() + r0, logits.data(), targets.data() + r0, count, V);
      softmax_cross_entropy_backward(logits.data(), logits.data(), lse.data() + r0, targets.data() + r0, count, V, 1e-4f);
      matmul_backward(y.data() + static_cast<std::size_t>(r0) * d, demb.data(), logits.data(),
                      x.data() + static_cast<std::size_t>(r0) * d, lm.data(), count, d, V);
    }
  });
  add("embedding fwd+bwd", 1, [&] {
    embedding_forward(y.data(), tokens.data(), emb.data(), N, d);
    embedding_backward(demb.data(), y.data(), tokens.data(), N, d);
  });
  double total = 0.0;
  for (const auto& r : rows) total += r.seconds * r.count;
  std::printf("per-op profile (%s, %d threads): kernel x count/step = ms/step (share)\n", b.name.c_str(), threads);
  for (const auto& r : rows) {
    if (r.count == 0) {  // a variant, not part of the step
      std::printf("  %-36s %7.2f ms\n", r.name, r.seconds * 1e3);
      continue;
    }
    std::printf("  %-36s %7.2f ms x %2d = %8.1f ms (%4.1f%%)\n", r.name, r.seconds * 1e3, r.count,
                r.seconds * r.count * 1e3, 100.0 * r.seconds * r.count / total);
  }
  std::printf("  %-36s %37.1f ms\n", "sum (excl. AdamW, memcpy)", total * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string config = "C2";
    int steps = 5, warmup = 1, threads = 0;
    bool json = false, with_sgemm = false, with_profile = false, profile_only = false;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw masque::InputError(masque::cat(arg, " needs a value"));
        return argv[++i];
      };
      if (arg == "--config") config = value();
      else if (arg == "--steps") steps = std::stoi(value());
      else if (arg == "--warmup") warmup = std::stoi(value());
      else if (arg == "--threads") threads = std::stoi(value());
      else if (arg == "--json") json = true;
      else if (arg == "--sgemm") with_sgemm = true;
      else if (arg == "--profile") with_profile = true;
      else if (arg == "--profile-only") with_profile = profile_only = true;
      else throw masque::InputError(masque::cat("unknown option ", arg,
                                                ": use --config C1|C2|tiny --steps N --warmup N --threads N "
                                                "--sgemm --profile --profile-only --json"));
    }
    if (steps < 1) throw masque::InputError("--steps must be at least 1");
    masque::set_num_threads(threads);
    const BenchConfig b = lookup(config);
    const masque::ModelConfig cfg = model_config(b);
    if (with_profile) profile(b);
    if (profile_only) return 0;
    masque::Model model(cfg);
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
      model.zero_grad();
      loss = model.forward_backward(tokens.data(), targets.data(), b.batch, b.seq);
      optimizer.step(1e-3f);
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      if (step >= warmup) times.push_back(seconds);
      if (!json) std::printf("step %d: %.3f s, loss %.4f\n", step, seconds, loss);
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double tokens_per_s = b.batch * b.seq / median;
    const double gflops = cfg.train_flops_per_token(b.seq) * tokens_per_s / 1e9;
    const double sgemm = with_sgemm ? sgemm_gflops(b) : 0.0;
    masque::Json out = {{"impl", "masque"},
                        {"config", b.name},
                        {"threads", masque::num_threads()},
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
      std::printf("%s: %.0f tokens/s, %.1f model GFLOP/s", b.name.c_str(), tokens_per_s, gflops);
      if (with_sgemm) std::printf(", sgemm %.1f GFLOP/s (%.0f%%)", sgemm, 100.0 * gflops / sgemm);
      std::printf(", peak RSS %.0f MiB\n", peak_rss_mib());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cpu_train_step: error: %s\n", e.what());
    return 1;
  }
}
