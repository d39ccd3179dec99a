// Thread count for all CPU work (OpenMP kernels, tokenizer workers, BLAS).
// One process-wide knob, set once from the CLI's --threads, read everywhere;
// a ThreadScope overrides it for the calling thread only, which is how each
// inference engine keeps its own thread setting while others run.
#pragma once

namespace masque {

int num_threads();                // this thread's ThreadScope, else the process-wide count
void set_num_threads(int count);  // count <= 0 restores the default (hardware concurrency)

// For its lifetime, num_threads() and OpenMP's team size on the calling
// thread are `count` (<= 0: no change). Nested scopes restore in order.
class ThreadScope {
 public:
  explicit ThreadScope(int count);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_ = 0;
  int previous_omp_ = 0;
  bool active_ = false;
};

}  // namespace masque
