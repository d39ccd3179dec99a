// Benchmark: linear layers at decoding's row counts (one row per sequence).
// For each shape and row count, times masque's skinny kernels (AVX-512 and
// AVX2), OpenBLAS sgemm and one sgemv per row, all in the same run, and
// prints GFLOP/s; this is the measurement behind the row limits in
// src/backend/cpu/matmul.cpp. Shapes default to the C1 model's layers
// (qkv, o, gate+up, down, lm_head).
//
//   bench_skinny_matmul [--rows 1,2,4,8,16,32] [--threads N] [--ms 200]
#include "backend/cpu/skinny_matmul.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/threads.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  const char* name;
  int in, out;
};

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoi(item));
  return v;
}

// Seconds per call of `fn`: the best of 15 bursts of ~ms/15 milliseconds
// each, after a warm-up call. The minimum, not the mean, because on a busy
// machine preemption only ever adds time.
template <class Fn>
double time_per_call(Fn&& fn, int ms) {
  fn();
  double best = 1e30;
  for (int burst = 0; burst < 15; ++burst) {
    int calls = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      fn();
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed * 15000.0 < ms);
    best = std::min(best, elapsed / calls);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> row_counts{1, 2, 4, 8, 16, 32};
  int ms = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rows")
      row_counts = parse_list(argv[i + 1]);
    else if (flag == "--threads")
      masque::set_num_threads(std::stoi(argv[i + 1]));
    else if (flag == "--ms")
      ms = std::stoi(argv[i + 1]);
  }
  const std::vector<Shape> shapes{{"qkv", 256, 768},
                                  {"o", 256, 256},
                                  {"gate_up", 256, 1376},
                                  {"down", 688, 256},
                                  {"lm_head", 256, 4096}};
  masque::Rng rng(1);
  const bool avx512 = masque::cpu::cpu_has_avx512();
  std::printf("threads %d, AVX-512 %s; GFLOP/s\n", masque::num_threads(), avx512 ? "yes" : "no");
  std::printf("%-8s %5s %10s %10s %10s %10s\n", "shape", "rows", "skinny512", "skinny256", "sgemm",
              "sgemv/row");
  for (const Shape& s : shapes) {
    std::vector<float> w(static_cast<std::size_t>(s.in) * s.out);
    for (float& x : w) x = rng.uniform() - 0.5f;
    for (int rows : row_counts) {
      std::vector<float> a(static_cast<std::size_t>(rows) * s.in),
          c(static_cast<std::size_t>(rows) * s.out);
      for (float& x : a) x = rng.uniform() - 0.5f;
      const double flop = 2.0 * rows * s.in * s.out;
      auto gflops = [&](double sec) { return flop / sec * 1e-9; };
      const double t512 =
          avx512 ? time_per_call(
                       [&] {
                         masque::cpu::skinny_matmul(c.data(), a.data(), w.data(), rows, s.in, s.out,
                                                    0.0f, masque::cpu::CpuIsa::kAvx512);
                       },
                       ms)
                 : 0.0;
      const double t256 = time_per_call(
          [&] {
            masque::cpu::skinny_matmul(c.data(), a.data(), w.data(), rows, s.in, s.out, 0.0f,
                                       masque::cpu::CpuIsa::kAvx2);
          },
          ms);
      const double tgemm = time_per_call(
          [&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, s.out, s.in, 1.0f, a.data(),
                        s.in, w.data(), s.in, 0.0f, c.data(), s.out);
          },
          ms);
      const double tgemv = time_per_call(
          [&] {
            for (int r = 0; r < rows; ++r)
              cblas_sgemv(CblasRowMajor, CblasNoTrans, s.out, s.in, 1.0f, w.data(), s.in,
                          a.data() + static_cast<std::size_t>(r) * s.in, 1, 0.0f,
                          c.data() + static_cast<std::size_t>(r) * s.out, 1);
          },
          ms);
      std::printf("%-8s %5d %10.1f %10.1f %10.1f %10.1f\n", s.name, rows,
                  avx512 ? gflops(t512) : 0.0, gflops(t256), gflops(tgemm), gflops(tgemv));
    }
  }
  return 0;
}
