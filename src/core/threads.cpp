// Thread count shared by OpenMP and the std::thread workers.
#include "core/threads.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace masque {
namespace {
std::atomic<int> g_threads{0};
}

int num_threads() {
  int n = g_threads.load();
  if (n > 0) return n;
  return std::max(1u, std::thread::hardware_concurrency());
}

void set_num_threads(int count) {
  g_threads = count > 0 ? count : 0;
  omp_set_num_threads(num_threads());
}

}  // namespace masque
