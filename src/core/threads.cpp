// Thread count shared by OpenMP and the std::thread workers.
#include "core/threads.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace masque {
namespace {
std::atomic<int> g_threads{0};
thread_local int t_threads = 0;  // ThreadScope override for this thread
}  // namespace

int num_threads() {
  if (t_threads > 0) return t_threads;
  int n = g_threads.load();
  if (n > 0) return n;
  return std::max(1u, std::thread::hardware_concurrency());
}

void set_num_threads(int count) {
  g_threads = count > 0 ? count : 0;
  omp_set_num_threads(num_threads());
}

ThreadScope::ThreadScope(int count) {
  if (count <= 0) return;
  active_ = true;
  previous_ = t_threads;
  previous_omp_ = omp_get_max_threads();
  t_threads = count;
  omp_set_num_threads(count);  // the nthreads ICV is per thread: other threads keep theirs
}

ThreadScope::~ThreadScope() {
  if (!active_) return;
  t_threads = previous_;
  omp_set_num_threads(previous_omp_);
}

}  // namespace masque
