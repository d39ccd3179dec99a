// The elementwise kernels' AVX-512 variants against their AVX2 twins: the
// same bits, element for element, on widths that leave 16- and 8-wide tails
// and on inputs that reach exp's clamps. (Both are checked against float64
// by the op harness, tests/backend, through the backend's automatic choice.)
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/optimizer.h"
#include "backend/cpu/swiglu.h"
#include "core/rng.h"
#include "core/threads.h"

namespace masque {
namespace {

using cpu::CpuIsa;

std::vector<float> inputs(std::size_t n, Rng& rng) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    // Mostly N(0, 3); every 7th far out, past exp's under- and overflow clamps.
    x[i] = i % 7 == 3 ? static_cast<float>(rng.normal() * 60.0)
                      : static_cast<float>(rng.normal() * 3.0);
  }
  return x;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(SwiGlu, Avx512MatchesAvx2Bits) {
  if (!cpu::cpu_has_avx512()) GTEST_SKIP() << "no AVX-512";
  Rng rng(21);
  for (int ff : {1, 7, 8, 9, 15, 16, 17, 24, 31, 33, 688, 700}) {
    const int rows = 37;
    const auto gate_up = inputs(static_cast<std::size_t>(rows) * 2 * ff, rng);
    const auto dout = inputs(static_cast<std::size_t>(rows) * ff, rng);
    std::vector<float> h2(static_cast<std::size_t>(rows) * ff), h5(h2.size());
    cpu::swiglu_forward(h2.data(), gate_up.data(), rows, ff, CpuIsa::kAvx2);
    cpu::swiglu_forward(h5.data(), gate_up.data(), rows, ff, CpuIsa::kAvx512);
    EXPECT_TRUE(same_bits(h2, h5)) << "forward, ff " << ff;
    // Backward in place, as the model runs it (dgate_up aliases gate_up).
    std::vector<float> d2 = gate_up, d5 = gate_up;
    cpu::swiglu_backward(d2.data(), dout.data(), d2.data(), rows, ff, CpuIsa::kAvx2);
    cpu::swiglu_backward(d5.data(), dout.data(), d5.data(), rows, ff, CpuIsa::kAvx512);
    EXPECT_TRUE(same_bits(d2, d5)) << "backward, ff " << ff;
    // And out of place gives what in place gives.
    std::vector<float> d5_out(gate_up.size());
    cpu::swiglu_backward(d5_out.data(), dout.data(), gate_up.data(), rows, ff, CpuIsa::kAvx512);
    EXPECT_TRUE(same_bits(d5, d5_out)) << "backward out of place, ff " << ff;
  }
}

// AdamW: each width and thread count gives the same bits (elements are
// independent; tails run the scalar spelling of the vector body).
TEST(AdamW, WidthsAndThreadsGiveSameBits) {
  Rng rng(22);
  for (std::size_t n :
       {std::size_t{1}, std::size_t{7}, std::size_t{63}, std::size_t{1000}, std::size_t{70001}}) {
    for (bool with_mask : {false, true}) {
      std::vector<float> param(n), grad(n), m(n), v(n), mask(n);
      for (std::size_t i = 0; i < n; ++i) {
        param[i] = static_cast<float>(rng.normal() * 0.1);
        grad[i] = i % 5 == 0 ? 0.0f : static_cast<float>(rng.normal() * 0.1);
        m[i] = static_cast<float>(rng.normal() * 0.01);
        v[i] = static_cast<float>(rng.normal() * 0.01);
        v[i] *= v[i];
        mask[i] = rng.below(3) == 0 ? 0.0f : 1.0f;
      }
      std::vector<std::vector<float>> results;
      std::vector<CpuIsa> isas{CpuIsa::kAvx2};
      if (cpu::cpu_has_avx512()) isas.push_back(CpuIsa::kAvx512);
      for (CpuIsa isa : isas) {
        for (int threads : {1, 2, 3}) {
          ThreadScope scope(threads);
          std::vector<float> p = param, mm = m, vv = v;
          cpu::adamw_update(p.data(), grad.data(), mm.data(), vv.data(),
                            with_mask ? mask.data() : nullptr, n, 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f,
                            7, isa);
          p.insert(p.end(), mm.begin(), mm.end());
          p.insert(p.end(), vv.begin(), vv.end());
          results.push_back(std::move(p));
        }
      }
      for (std::size_t r = 1; r < results.size(); ++r) {
        EXPECT_TRUE(same_bits(results[r], results[0]))
            << "n " << n << " mask " << with_mask << " run " << r;
      }
    }
  }
}

}  // namespace
}  // namespace masque
