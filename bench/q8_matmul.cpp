// Benchmark: Q8_0 linear layers (backend/cpu/q8_matmul.h) against the
// float32 kernels at decoding's row counts, in one run: q8_matmul (AVX-512
// and AVX2), the float32 skinny kernel, OpenBLAS sgemm, and sgemv for one
// row. Prints microseconds per call and the weight bytes read per second
// (Q8_0: 36 bytes per 32 weights; float32: 128), which shows whether a
// kernel is bound by memory; this is the measurement behind kQ8MaxRows.
// Shapes default to the ~100M-parameter benchmark model's layers
// (docs/benchmarks.md): qkv, o, gate+up, down, lm_head.
//
//   bench_q8_matmul [--rows 1,2,4,8,16,32,64] [--threads N] [--ms 200]
#include "backend/cpu/q8_matmul.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/skinny_matmul.h"
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

// Seconds per call: the best of 15 bursts (preemption only ever adds time).
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
  using masque::cpu::CpuIsa;
  std::vector<int> row_counts{1, 2, 4, 8, 16, 32, 64};
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
  const std::vector<Shape> shapes{{"qkv", 768, 2304},
                                  {"o", 768, 768},
                                  {"gate_up", 768, 4096},
                                  {"down", 2048, 768},
                                  {"lm_head", 768, 32000}};
  masque::Rng rng(1);
  const bool avx512 = masque::cpu::cpu_has_avx512();
  std::printf("threads %d, AVX-512 %s; microseconds per call (weight GB/s)\n",
              masque::num_threads(), avx512 ? "yes" : "no");
  std::printf("%-8s %4s %16s %16s %16s %16s %16s\n", "shape", "rows", "q8_512", "q8_256",
              "f32 skinny", "f32 sgemm", "f32 sgemv/row");
  for (const Shape& s : shapes) {
    std::vector<float> w(static_cast<std::size_t>(s.in) * s.out);
    for (float& x : w) x = rng.uniform() - 0.5f;
    const masque::Q8Matrix q = masque::cpu::q8_quantize(w.data(), s.out, s.in);
    const double q8_bytes = s.out * (s.in + 4.0 * s.in / 32), f32_bytes = 4.0 * s.out * s.in;
    for (int rows : row_counts) {
      std::vector<float> a(static_cast<std::size_t>(rows) * s.in),
          c(static_cast<std::size_t>(rows) * s.out);
      for (float& x : a) x = rng.uniform() - 0.5f;
      const auto cell = [&](double sec, double bytes) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%8.1f (%5.1f)", sec * 1e6, bytes / sec * 1e-9);
        return std::string(buf);
      };
      const double q512 =
          avx512 ? time_per_call(
                       [&] {
                         masque::cpu::q8_matmul(c.data(), a.data(), q, rows, 0.0f, CpuIsa::kAvx512);
                       },
                       ms)
                 : 0.0;
      const double q256 = time_per_call(
          [&] { masque::cpu::q8_matmul(c.data(), a.data(), q, rows, 0.0f, CpuIsa::kAvx2); }, ms);
      const double skinny = time_per_call(
          [&] {
            masque::cpu::skinny_matmul(c.data(), a.data(), w.data(), rows, s.in, s.out, 0.0f);
          },
          ms);
      const double gemm = time_per_call(
          [&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, s.out, s.in, 1.0f, a.data(),
                        s.in, w.data(), s.in, 0.0f, c.data(), s.out);
          },
          ms);
      const double gemv = time_per_call(
          [&] {
            for (int r = 0; r < rows; ++r)
              cblas_sgemv(CblasRowMajor, CblasNoTrans, s.out, s.in, 1.0f, w.data(), s.in,
                          a.data() + static_cast<std::size_t>(r) * s.in, 1, 0.0f,
                          c.data() + static_cast<std::size_t>(r) * s.out, 1);
          },
          ms);
      std::printf("%-8s %4d %16s %16s %16s %16s %16s\n", s.name, rows,
                  avx512 ? cell(q512, q8_bytes).c_str() : "-", cell(q256, q8_bytes).c_str(),
                  cell(skinny, f32_bytes).c_str(), cell(gemm, f32_bytes).c_str(),
                  cell(gemv, f32_bytes * rows).c_str());
    }
  }
  return 0;
}
