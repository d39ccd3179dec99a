// Benchmark: the LM head + cross-entropy of one training step (forward and
// backward over all B*T rows) at C1's and C2's shapes: the fused kernel
// (backend/cpu/lm_head_loss.h) at several chunk sizes, against the composed
// path it replaced (Backend::lm_head_loss's default: matmul_forward,
// cross_entropy_forward/backward, matmul_backward on chunks of ~4M logits).
// Variants alternate call by call; each one's best call counts (the machine
// may be shared). Chooses lm_head_chunk_rows; figures in docs/benchmarks.md
// ("Fused LM head + cross-entropy").
//
//   bench_lm_head --config C1|C2 [--dtype f32|bf16] [--reps N] [--threads N] [--chunks 64,128,...]
//                 [--cpu-time] [--masked F]
// --cpu-time times process CPU seconds instead of wall time: with --threads 1
// the least disturbed measure on a shared machine (no waiting for a core).
// --masked F: targets -1 on the first fraction F of every 256-token sequence,
// as an SFT batch's prompts (the fused kernel skips those rows; the composed
// path skips only chunks masked whole). GFLOP/s count all rows.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/lm_head_loss.h"
#include "backend/dtype.h"
#include "bench_args.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  int rows, d, vocab;
};

Shape lookup(const std::string& name) {
  if (name == "C1") return {16 * 256, 256, 4096};
  if (name == "C2") return {8 * 512, 512, 8192};
  throw masque::InputError(masque::cat("unknown config '", name, "': use C1 or C2"));
}

double process_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string config = "C2", dtype = "f32", chunk_list = "32,64,128,256,512,1024";
    int reps = 3, threads = 0;
    bool cpu_time = false;
    std::string masked = "0";
    masque::bench::BenchArgs(
        "--config C1|C2 --dtype f32|bf16 --reps N --threads N --chunks 64,128,... --cpu-time "
        "--masked F")
        .value("--config", &config)
        .value("--dtype", &dtype)
        .value("--reps", &reps)
        .value("--threads", &threads)
        .value("--chunks", &chunk_list)
        .flag("--cpu-time", &cpu_time)
        .value("--masked", &masked)
        .parse(argc, argv);
    masque::set_num_threads(threads);
    const Shape s = lookup(config);
    const masque::Backend& be = masque::backend_for_dtype(dtype);
    const auto precision =
        dtype == "bf16" ? masque::cpu::HeadPrecision::kBf16 : masque::cpu::HeadPrecision::kF32;
    masque::Rng rng(3);
    auto uniform = [&](double scale) {
      return static_cast<float>((2 * rng.uniform() - 1) * 1.7320508 * scale);
    };
    std::vector<float> x(static_cast<std::size_t>(s.rows) * s.d),
        w(static_cast<std::size_t>(s.vocab) * s.d);
    for (float& v : x) v = uniform(1.0);
    for (float& v : w) v = uniform(1.0 / std::sqrt(s.d));
    std::vector<std::int32_t> targets(s.rows);
    for (auto& t : targets) t = static_cast<std::int32_t>(rng.below(s.vocab));
    const int prompt = static_cast<int>(std::stod(masked) * 256);
    int valid = 0;
    for (int r = 0; r < s.rows; ++r) {
      if (r % 256 < prompt) targets[r] = -1;
      valid += targets[r] >= 0 ? 1 : 0;
    }
    std::vector<float> scales(s.rows, 1.0f / std::max(valid, 1)), losses(s.rows), dx(x.size()),
        dw(w.size());

    std::vector<int> chunks;  // 0: the composed default
    chunks.push_back(0);
    std::stringstream list(chunk_list);
    for (std::string item; std::getline(list, item, ',');) chunks.push_back(std::stoi(item));
    std::size_t scratch_floats = 0;
    for (int c : chunks)
      if (c > 0)
        scratch_floats = std::max(scratch_floats,
                                  masque::cpu::lm_head_scratch_floats(s.d, s.vocab, precision, c));
    std::vector<float> scratch(scratch_floats);
    masque::Workspace workspace(be);
    std::vector<double> best(chunks.size(), std::numeric_limits<double>::infinity());
    for (int rep = 0; rep < reps + 1; ++rep) {  // the first round warms up
      for (std::size_t i = 0; i < chunks.size(); ++i) {
        const auto start = Clock::now();
        const double cpu_start = process_seconds();
        if (chunks[i] == 0) {
          be.Backend::lm_head_loss(losses.data(), dx.data(), dw.data(), x.data(), w.data(),
                                   targets.data(), scales.data(), s.rows, s.d, s.vocab, workspace);
        } else {
          masque::cpu::lm_head_loss(losses.data(), dx.data(), dw.data(), x.data(), w.data(),
                                    targets.data(), scales.data(), s.rows, s.d, s.vocab, precision,
                                    scratch.data(), chunks[i]);
        }
        const double t = cpu_time ? process_seconds() - cpu_start
                                  : std::chrono::duration<double>(Clock::now() - start).count();
        if (rep > 0) best[i] = std::min(best[i], t);
      }
    }
    const double flops = 6.0 * s.rows * s.d * s.vocab;
    std::printf("%s %s, %d threads, %d x %d x %d, %d rows masked, best of %d (%s)\n",
                config.c_str(), dtype.c_str(), masque::num_threads(), s.rows, s.d, s.vocab,
                s.rows - valid, reps, cpu_time ? "CPU seconds" : "wall seconds");
    std::printf("%-28s %10s %10s %10s\n", "variant", "ms", "GFLOP/s", "vs composed");
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const std::string name =
          chunks[i] == 0 ? "composed (chunk ~4M logits)" : masque::cat("fused, chunk ", chunks[i]);
      std::printf(
          "%-28s %10.1f %10.1f %10.3f%s\n", name.c_str(), best[i] * 1e3, flops / best[i] / 1e9,
          best[0] / best[i],
          chunks[i] == masque::cpu::lm_head_chunk_rows(s.vocab, precision) ? "  (default)" : "");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_lm_head: error: %s\n", e.what());
    return 1;
  }
}
