// Per-op profile (the op harness's perf mode): every op of one training step
// of a config, at the step's own shapes, timed alone on a backend (median of
// --reps calls run back to back, see time_case), times its count per step:
// where a step's time goes, per backend. The cases are the
// harness's (tests/backend/op_tables.h: training_step_cases), so what is
// timed here is exactly what tests/backend checks against float64.
//
//   bench_ops --backend cpu|cuda --config C1|C2|tiny [--batch B] [--reps N] [--threads N]
//             [--filter SUBSTRING] [--cpu-time] [--json]
//
// --cpu-time times each call by the process's CPU time (all threads) instead
// of the wall clock: with --threads 1 on a shared machine that is each op's
// own cost (compare with bench_cpu_train_step --threads 1 --cpu-time).
//
// Prints a table (ms per call, count per step, ms per step, share of the
// step, GFLOP/s where the op computes, GB/s of its minimum traffic), or one
// JSON line with --json. Figures: docs/benchmarks.md, "Per-op profile".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "../tests/backend/op_tables.h"
#include "backend/backend.h"
#include "bench_args.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/threads.h"

namespace {

using masque::optest::OpCase;
using masque::optest::StepShape;
using Clock = std::chrono::steady_clock;

// The configurations of bench/cpu_train_step.cpp (issue 3's C1 and C2).
StepShape lookup(const std::string& name) {
  if (name == "C1") return {"C1", 4096, 256, 6, 256, 8, 8, 688, 16};
  if (name == "C2") return {"C2", 8192, 512, 8, 512, 8, 8, 1376, 8};
  if (name == "tiny") return {"tiny", 512, 64, 2, 64, 4, 4, 176, 4};
  throw masque::InputError(masque::cat("unknown config '", name, "': use C1, C2 or tiny"));
}

struct Row {
  std::string op, shape;
  int per_step = 0;
  double seconds = 0, flops = 0, bytes = 0;
};

bool g_cpu_time = false;

double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Median seconds of `reps` calls, timed back to back as a step runs them: a
// gap before a call (restoring inputs) lets idle OpenMP workers fall asleep,
// which no step pays (measured on a 2-vCPU VM: up to 2x slower medians,
// single calls up to 8 ms). The
// written arrays are restored every 8 calls, followed by one untimed call, so
// in-place ops (accumulations, rotations, the in-place gradients) never
// drift far from their inputs.
double time_case(const masque::Backend& be, const OpCase& c, int reps) {
  masque::optest::DeviceArrays arrays(be, c);
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    if (i % 8 == 0) {
      arrays.restore(c, true);
      c.run(be, arrays);  // warm: first-touch pages, workspace growth, the thread team awake
    }
    be.synchronize();
    const double start = now_seconds();
    c.run(be, arrays);
    be.synchronize();
    t.push_back(now_seconds() - start);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void print_table(const std::vector<Row>& rows, double step_seconds) {
  std::printf("%-24s %-72s %9s %6s %9s %6s %8s %7s\n", "op", "shape", "ms/call", "x/step",
              "ms/step", "share", "GFLOP/s", "GB/s");
  bool extras = false;
  for (const Row& r : rows) {
    if (r.per_step == 0 && !extras) {
      std::printf("%-24s %79s %9.1f\n", "sum of the step's ops", "", step_seconds * 1e3);
      std::printf("not in a plain step:\n");
      extras = true;
    }
    std::printf("%-24s %-72.72s %9.3f ", r.op.c_str(), r.shape.c_str(), r.seconds * 1e3);
    if (r.per_step > 0) {
      std::printf("%6d %9.1f %5.1f%% ", r.per_step, r.seconds * r.per_step * 1e3,
                  100.0 * r.seconds * r.per_step / step_seconds);
    } else {
      std::printf("%6s %9s %6s ", "", "", "");
    }
    if (r.flops > 0) {
      std::printf("%8.1f ", r.flops / r.seconds / 1e9);
    } else {
      std::printf("%8s ", "");
    }
    std::printf("%7.1f\n", r.bytes / r.seconds / 1e9);
  }
  if (!extras) std::printf("%-24s %79s %9.1f\n", "sum of the step's ops", "", step_seconds * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string backend_name = "cpu", config = "C1", filter;
    int reps = 5, threads = 0, batch = 0;
    bool json = false;
    masque::bench::BenchArgs(
        "--backend cpu|cuda --config C1|C2|tiny --batch B --reps N --threads N --filter SUBSTRING "
        "--cpu-time --json")
        .value("--backend", &backend_name)
        .value("--config", &config)
        .value("--batch", &batch)
        .value("--reps", &reps)
        .value("--threads", &threads)
        .value("--filter", &filter)
        .flag("--json", &json)
        .flag("--cpu-time", &g_cpu_time)
        .parse(argc, argv);
    if (reps < 1) throw masque::InputError("--reps must be at least 1");
    masque::set_num_threads(threads);
    const masque::Backend& be = masque::backend_by_name(backend_name);
    StepShape shape = lookup(config);
    if (batch > 0) shape.batch = batch;

    std::vector<Row> rows;
    double step_seconds = 0;
    masque::optest::training_step_cases(shape, [&](OpCase c) {
      if (!filter.empty() && (c.op + " " + c.shape).find(filter) == std::string::npos) return;
      if (!json) std::fprintf(stderr, "timing %s (%s)\n", c.op.c_str(), c.shape.c_str());
      Row r{c.op, c.shape, c.per_step, time_case(be, c, reps), c.flops, c.traffic_bytes()};
      step_seconds += r.seconds * r.per_step;
      rows.push_back(std::move(r));
    });
    // Step ops first, then the others, each in step order.
    std::stable_partition(rows.begin(), rows.end(), [](const Row& r) { return r.per_step > 0; });

    if (json) {
      masque::Json ops = masque::Json::array();
      for (const Row& r : rows) {
        ops.push_back({{"op", r.op},
                       {"shape", r.shape},
                       {"ms", r.seconds * 1e3},
                       {"per_step", r.per_step},
                       {"ms_per_step", r.seconds * r.per_step * 1e3},
                       {"share", step_seconds > 0 ? r.seconds * r.per_step / step_seconds : 0.0},
                       {"gflops", r.flops > 0 ? r.flops / r.seconds / 1e9 : 0.0},
                       {"gbps", r.bytes / r.seconds / 1e9}});
      }
      const masque::Json out = {{"backend", be.name()},
                                {"config", shape.name},
                                {"batch", shape.batch},
                                {"threads", masque::num_threads()},
                                {"reps", reps},
                                {"clock", g_cpu_time ? "cpu" : "wall"},
                                {"step_ms", step_seconds * 1e3},
                                {"ops", ops}};
      std::printf("%s\n", out.dump().c_str());
    } else {
      std::printf(
          "bench_ops: backend %s, config %s (V %d, T %d, %d layers, d %d, %d heads, ff %d, B %d), "
          "%d threads, median of %d calls (%s)\n",
          be.name().c_str(), shape.name.c_str(), shape.vocab, shape.seq, shape.layers, shape.dim,
          shape.heads, shape.ff, shape.batch, masque::num_threads(), reps,
          g_cpu_time ? "process CPU time" : "wall clock");
      print_table(rows, step_seconds);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ops: error: %s\n", e.what());
    return 1;
  }
}
