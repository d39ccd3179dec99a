// MPI's world as a Communicator (built with MASQUE_MPI): MPI is initialized
// on first use and finalized at exit after a clean run (dist::mark_clean_exit);
// a rank that fails exits without finalizing, which makes mpirun stop the
// others. A watchdog thread turns a collective that waits longer than
// MASQUE_DIST_TIMEOUT seconds into an exit with a message naming it.
#ifdef MASQUE_HAVE_MPI
// The C API only: MPI's deprecated C++ bindings do not compile warning-free.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "backend/backend.h"
#include "core/error.h"
#include "core/progress.h"
#include "dist/communicator.h"
#include "dist/nccl_sum.h"
#include "dist/stop_notice.h"

namespace masque::dist {
namespace {

void check(int status, const char* what) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  throw Error(cat(what, " failed: ", std::string(text, static_cast<std::size_t>(length))));
}

double timeout_seconds() {
  const char* value = std::getenv("MASQUE_DIST_TIMEOUT");
  if (value == nullptr || *value == '\0') return 600.0;
  char* end = nullptr;
  const double parsed = std::strtod(value, &end);
  if (end == nullptr || *end != '\0' || !(parsed >= 0)) {
    throw InputError(cat("MASQUE_DIST_TIMEOUT='", value,
                         "' is not a number of seconds (0 turns the timeout off)"));
  }
  return parsed;
}

// Exits the process when one collective waits longer than the timeout: MPI
// blocks forever on a peer that hangs or is stopped (kill -STOP, a dead
// network link), while mpirun only notices peers that exit.
class Watchdog {
 public:
  Watchdog(int rank, int size, double timeout) : rank_(rank), size_(size), timeout_(timeout) {
    if (timeout_ > 0) thread_ = std::thread([this] { run(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void enter(const char* what) {
    what_.store(what);
    since_.store(now_ns());
  }
  void leave() { since_.store(0); }

 private:
  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; })) {
      const std::int64_t since = since_.load();
      if (since == 0) continue;
      const double waited = static_cast<double>(now_ns() - since) * 1e-9;
      if (waited < timeout_) continue;
      std::fprintf(stderr,
                   "masque: error: rank %d of %d waited %.0f s for the other ranks in %s: one of "
                   "them hung, was stopped or lost its network (MASQUE_DIST_TIMEOUT=%.0f sets "
                   "this limit; 0 turns it off); stopping this rank so mpirun stops the job. %s\n",
                   rank_, size_, waited, what_.load(), timeout_, last_checkpoint_note().c_str());
      std::fflush(stderr);
      std::_Exit(1);
    }
  }

  int rank_, size_;
  double timeout_;
  std::atomic<std::int64_t> since_{0};
  std::atomic<const char*> what_{""};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// Marks the time spent inside one collective for the watchdog.
class Waiting {
 public:
  Waiting(Watchdog& dog, const char* what) : dog_(dog) { dog_.enter(what); }
  ~Waiting() { dog_.leave(); }
  Waiting(const Waiting&) = delete;
  Waiting& operator=(const Waiting&) = delete;

 private:
  Watchdog& dog_;
};

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized == 0) check(MPI_Init(nullptr, nullptr), "MPI_Init");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    local_rank_ = local != nullptr ? std::atoi(local) : 0;
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    library_.assign(version, static_cast<std::size_t>(length));
    library_ = library_.substr(0, library_.find_first_of(",\n"));
    watchdog_ = std::make_unique<Watchdog>(rank_, size_, timeout_seconds());
    // One progress bar and one copy of each message: rank 0's.
    if (rank_ != 0) set_progress_enabled(false);
    install_stop_notice(rank_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string describe() const override { return cat("MPI (", library_, "), ", size_, " ranks"); }

  void sum_floats(float* data, std::size_t count, const Backend& backend,
                  Reduction reduction) override {
    if (count == 0) return;
    if (!backend.host_addressable()) {
#ifdef MASQUE_HAVE_NCCL
      if (backend.name() == "cuda") {
        if (!nccl_) nccl_ = NcclSum::create(*this);
        Waiting wait(*watchdog_, "the NCCL gradient all-reduce");
        nccl_->sum(data, count);
        return;
      }
#endif
      // Staged through the host (a device without NCCL).
      staging_.resize(count);
      backend.download(staging_.data(), data, count * sizeof(float));
      sum_host(staging_.data(), count, reduction);
      backend.upload(data, staging_.data(), count * sizeof(float));
      return;
    }
    sum_host(data, count, reduction);
  }

  void sum_doubles(double* data, std::size_t count) override {
    // Tiny arrays: gather every rank's values and add them in rank order.
    gathered_.resize(count * static_cast<std::size_t>(size_));
    {
      Waiting wait(*watchdog_, "MPI_Allgather (losses and token counts)");
      check(MPI_Allgather(data, static_cast<int>(count), MPI_DOUBLE, gathered_.data(),
                          static_cast<int>(count), MPI_DOUBLE, MPI_COMM_WORLD),
            "MPI_Allgather");
    }
    for (std::size_t i = 0; i < count; ++i) {
      double sum = gathered_[i];
      for (int r = 1; r < size_; ++r) sum += gathered_[static_cast<std::size_t>(r) * count + i];
      data[i] = sum;
    }
  }

  void broadcast(void* data, std::size_t bytes, int root) override {
    Waiting wait(*watchdog_, "MPI_Bcast (run set-up)");
    auto* p = static_cast<char*>(data);
    for (std::size_t done = 0; done < bytes;) {
      const std::size_t n = std::min<std::size_t>(bytes - done, 1u << 30);
      check(MPI_Bcast(p + done, static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
      done += n;
    }
  }

  std::vector<std::uint64_t> all_gather(std::uint64_t value) override {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(size_));
    Waiting wait(*watchdog_, "MPI_Allgather (consistency check)");
    check(MPI_Allgather(&value, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD),
          "MPI_Allgather");
    return out;
  }

 private:
  void sum_host(float* data, std::size_t count, Reduction reduction) {
    // Segments bound the scratch memory and keep MPI's int counts in range.
    const std::size_t segment = std::size_t{1} << 24;
    for (std::size_t begin = 0; begin < count; begin += segment) {
      const std::size_t n = std::min(segment, count - begin);
      if (reduction == Reduction::mpi) {
        Waiting wait(*watchdog_, "MPI_Allreduce (gradients)");
        check(MPI_Allreduce(MPI_IN_PLACE, data + begin, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                            MPI_COMM_WORLD),
              "MPI_Allreduce");
      } else {
        sum_ordered(data + begin, n);
      }
    }
  }

  // Rank r owns chunk r: it receives chunk r of every rank (all-to-all),
  // adds them in rank order, and the summed chunks are gathered back. Each
  // element is summed by exactly one rank in one order, so every rank gets
  // the same bits whatever MPI's algorithms.
  void sum_ordered(float* data, std::size_t n) {
    const std::size_t ranks = static_cast<std::size_t>(size_);
    const std::size_t chunk = (n + ranks - 1) / ranks;
    counts_.assign(ranks, 0);
    displs_.assign(ranks, 0);
    for (std::size_t r = 0; r < ranks; ++r) {
      const std::size_t begin = std::min(n, r * chunk);
      counts_[r] = static_cast<int>(std::min(n, begin + chunk) - begin);
      displs_[r] = static_cast<int>(begin);
    }
    const int mine = counts_[static_cast<std::size_t>(rank_)];
    recv_counts_.assign(ranks, mine);
    recv_displs_.resize(ranks);
    for (std::size_t r = 0; r < ranks; ++r) recv_displs_[r] = static_cast<int>(r) * mine;
    scratch_.resize(ranks * static_cast<std::size_t>(mine));
    {
      Waiting wait(*watchdog_, "MPI_Alltoallv (ordered gradient sum)");
      check(MPI_Alltoallv(data, counts_.data(), displs_.data(), MPI_FLOAT, scratch_.data(),
                          recv_counts_.data(), recv_displs_.data(), MPI_FLOAT, MPI_COMM_WORLD),
            "MPI_Alltoallv");
    }
    float* out = data + displs_[static_cast<std::size_t>(rank_)];
    const std::size_t m = static_cast<std::size_t>(mine);
    std::copy_n(scratch_.data(), m, out);
    for (std::size_t r = 1; r < ranks; ++r) {
      const float* part = scratch_.data() + r * m;
      for (std::size_t i = 0; i < m; ++i) out[i] += part[i];
    }
    Waiting wait(*watchdog_, "MPI_Allgatherv (ordered gradient sum)");
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts_.data(), displs_.data(),
                         MPI_FLOAT, MPI_COMM_WORLD),
          "MPI_Allgatherv");
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0;
  std::string library_;
  std::unique_ptr<Watchdog> watchdog_;
  std::vector<float> staging_, scratch_;
  std::vector<double> gathered_;
  std::vector<int> counts_, displs_, recv_counts_, recv_displs_;
#ifdef MASQUE_HAVE_NCCL
  std::unique_ptr<NcclSum> nccl_;
#endif
};

std::atomic<bool> g_clean_exit{false};

}  // namespace

void mark_clean_exit() { g_clean_exit = true; }

Communicator& mpi_world() {
  static MpiWorld* world = [] {
    auto* w = new MpiWorld();  // lives until exit: the watchdog must outlive every collective
    // A clean run finalizes MPI; a failing rank exits without it, which
    // makes mpirun stop the other ranks (MPI_Finalize would wait for them).
    std::atexit([] {
      int finalized = 0;
      MPI_Finalized(&finalized);
      if (g_clean_exit && finalized == 0) MPI_Finalize();
    });
    return w;
  }();
  return *world;
}

}  // namespace masque::dist
#endif  // MASQUE_HAVE_MPI
