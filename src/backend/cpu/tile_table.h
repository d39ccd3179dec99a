// A compile-time table of register-tile kernels, [R-1][N-1] for R = 1..MaxR
// rows and N = 1..Cols columns, so that the skinny float32 and Q8_0 matrix
// products pick the kernel for an edge tile with one indexed call instead of
// a switch per shape. Tile<R, N>::run(problem, row, col, prefetch) is the
// kernel.
#pragma once

namespace masque::cpu {

template <class Problem, int Cols, template <int, int> class Tile, int MaxR>
struct TileTable {
  using Fn = void (*)(const Problem&, int, int, bool);
  Fn fn[MaxR][Cols];

  template <int R, int N>
  constexpr void fill() {
    fn[R - 1][N - 1] = &Tile<R, N>::run;
    if constexpr (N < Cols) {
      fill<R, N + 1>();
    } else if constexpr (R < MaxR) {
      fill<R + 1, 1>();
    }
  }
  constexpr TileTable() : fn{} { fill<1, 1>(); }
};

}  // namespace masque::cpu
