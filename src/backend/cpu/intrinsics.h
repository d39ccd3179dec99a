// <immintrin.h> for the hand-vectorized kernels, without GCC 12's false
// "uninitialized" warnings: its _mm256_undefined_pd (used by
// _mm512_reduce_add_ps) is written `__m256d y = y;`, and its shuffle/unpack
// intrinsics use _mm512_undefined_* placeholders, which -Wuninitialized
// flags in every caller. Clang has neither the false positive nor the
// -Wmaybe-uninitialized option, so the pragmas are GCC's only. Include this
// before any other header that pulls in <immintrin.h>.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
