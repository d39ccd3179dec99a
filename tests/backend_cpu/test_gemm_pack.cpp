// The AVX-512 GEMM packing (backend/cpu/gemm_pack_avx512.h) against the
// sliver layout written element by element: exact equality, on edges that
// are not multiples of the 12-row / 32-column slivers or of the 16 x 16
// register transposes, both storage orders, offsets into a padded matrix.
// The GEMM's own tests (test_gemm.cpp) check the products; this one pins
// the layout, so a transpose bug shows as the element it misplaces.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_pack_avx512.h"
#include "core/rng.h"

namespace masque {
namespace {

using std::size_t;

bool have_avx512() { return cpu::resolve_gemm(cpu::GemmImpl::kAuto) == cpu::GemmImpl::kAvx512; }

// A [outer, ld] matrix of distinct values (a misplaced element cannot match).
std::vector<float> matrix(int outer, int ld) {
  std::vector<float> m(static_cast<size_t>(outer) * ld);
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(i) + 0.5f;
  return m;
}

TEST(GemmPack, AMatchesElementwiseLayout) {
  if (!have_avx512()) GTEST_SKIP() << "no AVX-512";
  constexpr int MR = cpu::kPackMr512;
  for (bool trans : {false, true}) {
    for (int rows : {1, 11, 12, 13, 25, 36}) {
      for (int kc : {1, 15, 16, 17, 40}) {
        const int i0 = 3, p0 = 5;
        const int m_total = i0 + rows + 2, k_total = p0 + kc + 1;
        // Stored [m, k] or, transposed, [k, m]; leading dimension padded by 7.
        const int ld = (trans ? m_total : k_total) + 7;
        const auto a = matrix(trans ? k_total : m_total, ld);
        const int slivers = (rows + MR - 1) / MR;
        std::vector<float> got(static_cast<size_t>(slivers) * MR * kc, NAN);
        cpu::pack_a_12x(got.data(), a.data(), ld, trans, i0, rows, p0, kc);
        for (int s = 0; s < slivers; ++s) {
          for (int p = 0; p < kc; ++p) {
            for (int i = 0; i < MR; ++i) {
              const int row = s * MR + i;
              const float want = row >= rows ? 0.0f
                                 : trans     ? a[static_cast<size_t>(p0 + p) * ld + i0 + row]
                                             : a[static_cast<size_t>(i0 + row) * ld + p0 + p];
              ASSERT_EQ(got[static_cast<size_t>(s) * MR * kc + static_cast<size_t>(p) * MR + i],
                        want)
                  << "trans " << trans << " rows " << rows << " kc " << kc << " sliver " << s
                  << " p " << p << " i " << i;
            }
          }
        }
      }
    }
  }
}

TEST(GemmPack, BMatchesElementwiseLayout) {
  if (!have_avx512()) GTEST_SKIP() << "no AVX-512";
  constexpr int NR = cpu::kPackNr512;
  for (bool trans : {false, true}) {
    for (int cols : {1, 15, 16, 17, 31, 32, 33, 70}) {
      for (int kc : {1, 15, 16, 17, 40}) {
        const int j0 = 2, p0 = 3;
        const int n_total = j0 + cols + 1, k_total = p0 + kc + 2;
        // Stored [k, n] or, transposed (a weight), [n, k]; padded by 5.
        const int ld = (trans ? k_total : n_total) + 5;
        const auto b = matrix(trans ? n_total : k_total, ld);
        const int slivers = (cols + NR - 1) / NR;
        std::vector<float> got(static_cast<size_t>(slivers) * NR * kc, NAN);
        cpu::pack_b_x32(got.data(), b.data(), ld, trans, j0, cols, p0, kc);
        for (int s = 0; s < slivers; ++s) {
          for (int p = 0; p < kc; ++p) {
            for (int j = 0; j < NR; ++j) {
              const int col = s * NR + j;
              const float want = col >= cols ? 0.0f
                                 : trans     ? b[static_cast<size_t>(j0 + col) * ld + p0 + p]
                                             : b[static_cast<size_t>(p0 + p) * ld + j0 + col];
              ASSERT_EQ(got[static_cast<size_t>(s) * NR * kc + static_cast<size_t>(p) * NR + j],
                        want)
                  << "trans " << trans << " cols " << cols << " kc " << kc << " sliver " << s
                  << " p " << p << " j " << j;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace masque
