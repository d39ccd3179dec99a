// The op harness: every case of the op table (op_tables.h) on every backend
// present (the CPU always; CUDA where backend_by_name finds one), through the
// Backend interface only. Per case and backend: each output element within
// its derived float64 tolerance, inputs unchanged, results bit-identical run
// to run and (CPU) across thread counts; per case, the finite-difference
// check of the float64 backward reference. A summary of the worst
// error/tolerance ratio per op is printed at the end: the thresholds are
// bounds, and the measured errors show how far below them the kernels sit.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "core/threads.h"
#include "op_tables.h"

namespace masque {
namespace {

using optest::OpCase;

const std::vector<OpCase>& table() {
  static const std::vector<OpCase> cases = optest::random_cases();
  return cases;
}

// The CPU, and CUDA when this build has it and a device is present.
const std::vector<const Backend*>& backends() {
  static const std::vector<const Backend*> list = [] {
    std::vector<const Backend*> found{&cpu_backend()};
    try {
      found.push_back(&backend_by_name("cuda"));
    } catch (const InputError&) {
      // Reported once by Backends.CudaPresentOrSkipped.
    }
    return found;
  }();
  return list;
}

TEST(Backends, CudaPresentOrSkipped) {
  try {
    const Backend& cuda = backend_by_name("cuda");
    EXPECT_EQ(cuda.name(), "cuda");
  } catch (const InputError& e) {
    GTEST_SKIP() << "op cases run on the CPU backend only: " << e.what();
  }
}

// Worst |error| / tolerance per op and backend over the table (printed at exit).
std::map<std::string, double>& worst_ratio() {
  static std::map<std::string, double> worst;
  return worst;
}
class SummaryPrinter : public testing::Environment {
 public:
  void TearDown() override {
    if (worst_ratio().empty()) return;
    std::printf("[ harness ] worst |error| / tolerance per op (1 = at the bound):\n");
    for (const auto& [op, ratio] : worst_ratio())
      std::printf("[ harness ]   %-36s %.3g\n", op.c_str(), ratio);
  }
};
const auto* const kSummary = testing::AddGlobalTestEnvironment(new SummaryPrinter);

std::string describe(const OpCase& c) { return c.op + " (" + c.shape + ")"; }

class OpCaseTest : public testing::TestWithParam<std::size_t> {};

TEST_P(OpCaseTest, MatchesFloat64OnEveryBackend) {
  const OpCase& c = table()[GetParam()];
  SCOPED_TRACE(describe(c));
  optest::Reference ref;
  c.reference(c, ref);
  for (const auto& g : ref.gradients) {
    EXPECT_LE(g.worst, 1.0) << "finite differences disagree with the float64 backward reference, "
                            << g.name << ", " << g.detail;
  }
  std::set<int> checked;
  for (const auto& e : ref.expected) checked.insert(e.array);
  for (std::size_t i = 0; i < c.arrays.size(); ++i) {
    if (c.arrays[i].role != optest::Role::kIn) {
      ASSERT_TRUE(checked.count(static_cast<int>(i)))
          << "no expectation for written array " << c.arrays[i].name;
    }
  }
  for (const Backend* be : backends()) {
    const auto got = optest::run_once(c, *be);
    for (const auto& e : ref.expected) {
      const optest::Mismatch m = optest::compare(got[e.array], e);
      EXPECT_LE(m.ratio, 1.0) << be->name() << ": " << c.arrays[e.array].name << "[" << m.index
                              << "] = " << m.got << ", float64 reference " << m.want << " +- "
                              << m.tol;
      double& worst = worst_ratio()[be->name() + " " + c.op];
      worst = std::max(worst, m.ratio);
    }
    for (std::size_t i = 0; i < c.arrays.size(); ++i) {
      if (c.arrays[i].role != optest::Role::kIn) continue;
      EXPECT_TRUE(optest::same_bits({got[i]}, {c.arrays[i].as_double()}))
          << be->name() << ": input " << c.arrays[i].name << " was modified";
    }
    EXPECT_TRUE(optest::same_bits(got, optest::run_once(c, *be)))
        << be->name() << ": not bit-identical run to run";
    if (be == &cpu_backend()) {
      // Reductions are split by data, never by thread: any thread count gives the same bits.
      for (int threads : {1, 3}) {
        ThreadScope scope(threads);
        EXPECT_TRUE(optest::same_bits(got, optest::run_once(c, *be)))
            << "cpu: " << threads << " threads give different bits than " << num_threads();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, OpCaseTest, testing::Range<std::size_t>(0, table().size()),
                         [](const testing::TestParamInfo<std::size_t>& info) {
                           return table()[info.param].op + "_" + std::to_string(info.param);
                         });

// Adding an op to the Backend interface means adding its case to the table.
TEST(OpTable, CoversEveryOpOfTheInterface) {
  std::set<std::string> ops;
  for (const auto& c : table()) ops.insert(c.op);
  for (const char* op : {"copy",
                         "fill_zero",
                         "gemm",
                         "matmul_forward",
                         "matmul_backward",
                         "add_inplace",
                         "scale_inplace",
                         "sum_squares",
                         "embedding_forward",
                         "embedding_backward",
                         "rmsnorm_forward",
                         "rmsnorm_apply",
                         "rmsnorm_backward",
                         "rope_forward",
                         "rope_backward",
                         "attention_forward",
                         "attention_backward",
                         "swiglu_forward",
                         "swiglu_backward",
                         "cross_entropy_forward",
                         "cross_entropy_backward",
                         "lm_head_loss",
                         "adamw_update",
                         "add_vector_rows",
                         "project_out_rows",
                         "gather_rows"}) {
    EXPECT_TRUE(ops.count(op)) << "no case for " << op;
  }
}

// The training step keeps rstd, not the normalized input, and recomputes the
// latter with rmsnorm_apply in the backward: the recomputation must equal the
// forward's output bit for bit, so the backward sees exactly the activations
// the forward produced.
TEST(OpProperties, RmsNormApplyReproducesForwardBitwise) {
  Rng rng(11);
  const int rows = 33, dim = 129;
  const std::vector<float> x = optest::random_floats(optest::sz(rows, dim), rng);
  const std::vector<float> w = optest::random_floats(optest::sz(dim), rng);
  for (const Backend* be : backends()) {
    DeviceBuffer dx = DeviceBuffer::floats(*be, x.size()), dw = DeviceBuffer::floats(*be, w.size());
    DeviceBuffer out = DeviceBuffer::floats(*be, x.size()),
                 again = DeviceBuffer::floats(*be, x.size());
    DeviceBuffer rstd = DeviceBuffer::floats(*be, rows);
    dx.upload(x.data(), x.size() * sizeof(float));
    dw.upload(w.data(), w.size() * sizeof(float));
    be->rmsnorm_forward(out.f32(), rstd.f32(), dx.f32(), dw.f32(), rows, dim, 1e-5f);
    be->rmsnorm_apply(again.f32(), rstd.f32(), dx.f32(), dw.f32(), rows, dim);
    std::vector<float> a(x.size()), b(x.size());
    out.download(a.data(), a.size() * sizeof(float));
    again.download(b.data(), b.size() * sizeof(float));
    EXPECT_EQ(a, b) << be->name();
  }
}

}  // namespace
}  // namespace masque
