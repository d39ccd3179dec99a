// Benchmark: float32 GEMM candidates side by side, at the training step's
// own shapes (every linear layer's forward NT, dinp NN and dweight TN, and
// the LM head's chunked products) and at a large square product (the
// ceiling). Candidates: the OpenBLAS masque links (with the core type it
// runs: OPENBLAS_CORETYPE decides it), masque's own kernels (cpu/gemm.h),
// and, where installed, Debian's BLIS and oneDNN, dlopen'ed so that neither
// is a build dependency (RTLD_DEEPBIND keeps their BLAS symbols apart from
// OpenBLAS's); with --numpy-openblas PATH also the OpenBLAS that numpy's
// wheel bundles (numpy.libs/libscipy_openblas64_*.so, a newer OpenBLAS with
// its own CPU detection: bench/cpu_train_step.sh finds it through the venv's
// numpy), so that the ceiling counts the fastest float32 GEMM on the machine,
// not only the ones masque could link. Each time is the best of --reps calls, candidates
// interleaved so a busy machine disturbs them alike. --cpu-time times by the
// process's CPU time instead of the wall clock: with --threads 1 on a shared
// machine that is each kernel's own cost (GFLOP per CPU-second).
//
//   bench_gemm_ceiling [--config C1|C2|both] [--threads N] [--reps N] [--cpu-time]
//                      [--numpy-openblas PATH] [--json]
//
// --json prints one line per config (bench/cpu_train_step.sh reads it).
#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "backend/cpu/gemm.h"
#include "bench_args.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/rng.h"
#include "core/threads.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace cpu = masque::cpu;

struct Shape {
  std::string op;
  bool ta, tb;
  int m, n, k;
  int count;  // times per training step
  double flops() const { return 2.0 * m * n * k * count; }
};

// Issue 3's configs (bench/cpu_train_step.cpp): N = batch * seq rows.
std::vector<Shape> step_shapes(const std::string& config) {
  int V, T, L, d, ff, B;
  if (config == "C1") {
    V = 4096, T = 256, L = 6, d = 256, ff = 688, B = 16;
  } else if (config == "C2") {
    V = 8192, T = 512, L = 8, d = 512, ff = 1376, B = 8;
  } else {
    throw masque::InputError(masque::cat("unknown config '", config, "': use C1, C2 or both"));
  }
  const int N = B * T;
  std::vector<Shape> s;
  auto linear = [&](const std::string& name, int rows, int in, int out, int count) {
    s.push_back({name + " fwd NT", false, true, rows, out, in, count});
    s.push_back({name + " dinp NN", false, false, rows, in, out, count});
    s.push_back({name + " dweight TN", true, false, out, in, rows, count});
  };
  linear("q|k|v", N, d, 3 * d, L);
  linear("o", N, d, d, L);
  linear("gate|up", N, d, 2 * ff, L);
  linear("down", N, ff, d, L);
  const int chunk = std::clamp((1 << 22) / V, 64, 1024);  // model.cpp's cross-entropy chunk
  linear("lm head chunk", chunk, d, V, N / chunk);
  return s;
}

// A GEMM implementation: row-major C = A op B, alpha 1, beta 0.
struct Candidate {
  std::string name;
  std::function<void(const Shape&, const float*, const float*, float*)> run;
};

using CblasSgemm = void (*)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int, int, int, float,
                            const float*, int, const float*, int, float, float*, int);
using DnnlSgemm = int (*)(char, char, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                          std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);

// numpy's bundled OpenBLAS (scipy-openblas: ILP64, every symbol renamed
// scipy_*64_ so it cannot clash with a system BLAS).
using Sgemm64 = void (*)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, std::int64_t, std::int64_t,
                         std::int64_t, float, const float*, std::int64_t, const float*,
                         std::int64_t, float, float*, std::int64_t);

int lda_of(const Shape& s) { return s.ta ? s.m : s.k; }
int ldb_of(const Shape& s) { return s.tb ? s.k : s.n; }

// numpy's OpenBLAS as a candidate. OPENBLAS_CORETYPE is cleared while it
// loads (the library reads it once, then): the development machines set it
// for Debian's older OpenBLAS, which misdetects this CPU, and a user's numpy
// runs with the kernels its own detection picks, which is the rate to beat.
void add_numpy_openblas(std::vector<Candidate>& out, const std::string& path, int threads) {
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = forced != nullptr ? forced : "";
  if (forced != nullptr) unsetenv("OPENBLAS_CORETYPE");
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (forced != nullptr) setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  if (lib == nullptr) {
    throw masque::InputError(masque::cat("--numpy-openblas: cannot load ", path, ": ", dlerror(),
                                         " (pass numpy.libs/libscipy_openblas64_*.so)"));
  }
  auto gemm = reinterpret_cast<Sgemm64>(dlsym(lib, "scipy_cblas_sgemm64_"));
  auto set_threads =
      reinterpret_cast<void (*)(int)>(dlsym(lib, "scipy_openblas_set_num_threads64_"));
  auto corename = reinterpret_cast<const char* (*)()>(dlsym(lib, "scipy_openblas_get_corename64_"));
  if (gemm == nullptr || set_threads == nullptr) {
    throw masque::InputError(masque::cat(
        "--numpy-openblas: ", path, " has no scipy_cblas_sgemm64_ (not numpy's scipy-openblas)"));
  }
  set_threads(threads);
  out.push_back({masque::cat("numpy-openblas-", corename != nullptr ? corename() : "?"),
                 [gemm](const Shape& s, const float* a, const float* b, float* c) {
                   gemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans,
                        s.tb ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f, a, lda_of(s), b,
                        ldb_of(s), 0.0f, c, s.n);
                 }});
}

std::vector<Candidate> candidates(int threads, const std::string& numpy_openblas) {
  std::vector<Candidate> out;
  openblas_set_num_threads(threads);
  out.push_back({masque::cat("openblas-", openblas_get_corename()),
                 [](const Shape& s, const float* a, const float* b, float* c) {
                   cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans,
                               s.tb ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f, a, lda_of(s),
                               b, ldb_of(s), 0.0f, c, s.n);
                 }});
  std::vector<cpu::GemmImpl> own{cpu::GemmImpl::kAvx2};
  if (cpu::resolve_gemm(cpu::GemmImpl::kAuto) == cpu::GemmImpl::kAvx512)
    own.insert(own.begin(), cpu::GemmImpl::kAvx512);
  for (cpu::GemmImpl impl : own) {
    out.push_back({cpu::gemm_impl_name(impl),
                   [impl](const Shape& s, const float* a, const float* b, float* c) {
                     cpu::sgemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a, lda_of(s), b, ldb_of(s), 0.0f,
                                c, s.n, impl);
                   }});
  }
  if (void* blis = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)) {
    auto set_threads = reinterpret_cast<void (*)(long)>(dlsym(blis, "bli_thread_set_num_threads"));
    auto arch_id = reinterpret_cast<int (*)()>(dlsym(blis, "bli_arch_query_id"));
    auto arch_name = reinterpret_cast<const char* (*)(int)>(dlsym(blis, "bli_arch_string"));
    auto gemm = reinterpret_cast<CblasSgemm>(dlsym(blis, "cblas_sgemm"));
    if (set_threads != nullptr && gemm != nullptr) {
      set_threads(threads);
      const std::string arch = arch_id && arch_name ? arch_name(arch_id()) : "?";
      out.push_back(
          {"blis-" + arch, [gemm](const Shape& s, const float* a, const float* b, float* c) {
             gemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                  s.m, s.n, s.k, 1.0f, a, lda_of(s), b, ldb_of(s), 0.0f, c, s.n);
           }});
    }
  } else {
    std::fprintf(stderr, "BLIS not found (apt-get install libblis4): skipped\n");
  }
  if (void* dnnl = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)) {
    auto gemm = reinterpret_cast<DnnlSgemm>(dlsym(dnnl, "dnnl_sgemm"));
    auto isa = reinterpret_cast<int (*)()>(dlsym(dnnl, "dnnl_get_effective_cpu_isa"));
    if (gemm != nullptr) {
      // oneDNN (OpenMP build) uses omp_get_max_threads().
      out.push_back({masque::cat("onednn-isa0x", isa ? isa() : 0),
                     [gemm](const Shape& s, const float* a, const float* b, float* c) {
                       gemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.m, s.n, s.k, 1.0f, a, lda_of(s),
                            b, ldb_of(s), 0.0f, c, s.n);
                     }});
    }
  } else {
    std::fprintf(stderr, "oneDNN not found (apt-get install libdnnl2): skipped\n");
  }
  if (!numpy_openblas.empty()) add_numpy_openblas(out, numpy_openblas, threads);
  return out;
}

// Best seconds of each candidate on shape s over `reps` interleaved rounds.
bool g_cpu_time = false;

double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::vector<double> time_shape(const std::vector<Candidate>& cands, const Shape& s, int reps,
                               std::vector<float>& A, std::vector<float>& B,
                               std::vector<float>& C) {
  std::vector<double> best(cands.size(), 1e30);
  for (int r = 0; r <= reps; ++r) {  // round 0 warms
    for (std::size_t i = 0; i < cands.size(); ++i) {
      const double start = now_seconds();
      cands[i].run(s, A.data(), B.data(), C.data());
      const double t = now_seconds() - start;
      if (r > 0) best[i] = std::min(best[i], t);
    }
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string config = "both", numpy_openblas;
    int threads = 0, reps = 3, square = 3072;
    bool json = false;
    masque::bench::BenchArgs(
        "--config C1|C2|both --threads N --reps N --square N (ceiling size) --cpu-time "
        "--numpy-openblas PATH --json")
        .value("--config", &config)
        .value("--threads", &threads)
        .value("--reps", &reps)
        .value("--square", &square)
        .flag("--json", &json)
        .flag("--cpu-time", &g_cpu_time)
        .value("--numpy-openblas", &numpy_openblas)
        .parse(argc, argv);
    masque::set_num_threads(threads);
    threads = masque::num_threads();
    omp_set_num_threads(threads);
    const auto cands = candidates(threads, numpy_openblas);
    const std::vector<std::string> configs =
        config == "both" ? std::vector<std::string>{"C1", "C2"} : std::vector<std::string>{config};

    // Ceiling: a square product big enough for every candidate's blocking.
    const Shape sq{masque::cat("square ", square), false, false, square, square, square, 1};
    std::size_t max_a = static_cast<std::size_t>(square) * square, max_b = max_a, max_c = max_a;
    std::vector<std::vector<Shape>> sets;
    for (const auto& c : configs) {
      sets.push_back(step_shapes(c));
      for (const auto& s : sets.back()) {
        max_a = std::max(max_a, static_cast<std::size_t>(s.m) * s.k);
        max_b = std::max(max_b, static_cast<std::size_t>(s.k) * s.n);
        max_c = std::max(max_c, static_cast<std::size_t>(s.m) * s.n);
      }
    }
    masque::Rng rng(1);
    std::vector<float> A(max_a), B(max_b), C(max_c);
    for (auto& x : A) x = static_cast<float>(rng.normal());
    for (auto& x : B) x = static_cast<float>(rng.normal());

    const auto sq_t = time_shape(cands, sq, reps, A, B, C);
    std::size_t ceil_i = 0;
    for (std::size_t i = 0; i < cands.size(); ++i)
      if (sq_t[i] < sq_t[ceil_i]) ceil_i = i;
    const double ceiling = sq.flops() / sq_t[ceil_i] / 1e9;

    if (!json) {
      std::printf("threads %d, best of %d; GFLOP/s per candidate%s\n", threads, reps,
                  g_cpu_time ? " (per CPU-second)" : "");
      std::printf("%-26s", "shape (m x n x k)");
      for (const auto& c : cands) std::printf(" %16s", c.name.c_str());
      std::printf("\n%-26s", sq.op.c_str());
      for (double t : sq_t) std::printf(" %16.1f", sq.flops() / t / 1e9);
      std::printf("\n");
    }
    for (std::size_t ci = 0; ci < configs.size(); ++ci) {
      std::vector<double> total(cands.size(), 0.0);
      double flops = 0.0;
      for (const auto& s : sets[ci]) {
        const auto t = time_shape(cands, s, reps, A, B, C);
        flops += s.flops();
        for (std::size_t i = 0; i < cands.size(); ++i) total[i] += t[i] * s.count;
        if (!json) {
          std::printf("%-3s %-22s", configs[ci].c_str(),
                      masque::cat(s.op, " ", s.m, "x", s.n, "x", s.k).c_str());
          for (std::size_t i = 0; i < cands.size(); ++i)
            std::printf(" %16.1f", 2.0 * s.m * s.n * s.k / t[i] / 1e9);
          std::printf("\n");
        }
      }
      masque::Json step = masque::Json::object();
      for (std::size_t i = 0; i < cands.size(); ++i) step[cands[i].name] = flops / total[i] / 1e9;
      if (json) {
        masque::Json out = {{"config", configs[ci]},
                            {"threads", threads},
                            {"ceiling_gflops", ceiling},
                            {"ceiling_impl", cands[ceil_i].name},
                            {"masque_gemm", cpu::gemm_impl_name(cpu::resolve_gemm({}))},
                            {"step_gemm_gflops", step}};
        std::printf("%s\n", out.dump().c_str());
      } else {
        std::printf("%-26s", masque::cat(configs[ci], " step's GEMMs (weighted)").c_str());
        for (std::size_t i = 0; i < cands.size(); ++i)
          std::printf(" %16.1f", flops / total[i] / 1e9);
        std::printf("\n");
      }
    }
    if (!json) {
      std::printf("ceiling (best at the square shape): %.1f GFLOP/s by %s; masque runs %s\n",
                  ceiling, cands[ceil_i].name.c_str(),
                  cpu::gemm_impl_name(cpu::resolve_gemm(cpu::GemmImpl::kAuto)));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gemm_ceiling: error: %s\n", e.what());
    return 1;
  }
}
