// Communicator: the processes of a data-parallel training run (docs/distributed.md).
// One process is rank 0 of 1 and every call is a no-op; under `mpirun -np N`
// (built with MPI) the ranks talk through MPI, and GPU gradients go through
// NCCL where built with it. The trainer only sees this interface.
//
// Every collective is entered by every rank in the same order; a rank that
// waits longer than the timeout (MASQUE_DIST_TIMEOUT seconds, default 600)
// for the others prints which collective hung and exits, so mpirun stops the
// rest instead of the job hanging forever.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace masque {
class Backend;
}

namespace masque::dist {

// How gradients are summed over ranks.
enum class Reduction {
  // Fixed order, the default: rank r sums chunk r of every rank's gradient
  // as (((g0 + g1) + g2) + ...) in rank order, then the chunks are gathered.
  // The result is the same bits on every rank and in every run with the same
  // number of ranks, whatever MPI's algorithms or the network topology.
  ordered,
  // MPI_Allreduce(MPI_SUM) in place: MPI picks the algorithm (and so the
  // summation order) from the message size and the topology.
  mpi,
};

Reduction parse_reduction(const std::string& name);  // "ordered" | "mpi"; InputError otherwise
const char* reduction_name(Reduction reduction);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank among the processes on this machine (GPU selection).
  virtual int local_rank() const = 0;
  // "1 process" or "MPI (Open MPI v4.1.4), 2 ranks on 1 host".
  virtual std::string describe() const = 0;

  // Sums `count` floats over all ranks in place: host or device memory of
  // `backend` (device gradients are staged through the host, or summed by
  // NCCL on the device where built with it). Every rank gets the same bits.
  virtual void sum_floats(float* data, std::size_t count, const Backend& backend,
                          Reduction reduction) = 0;
  // Sums small host arrays (losses, token counts) in rank order.
  virtual void sum_doubles(double* data, std::size_t count) = 0;
  // Copies `bytes` of host memory from `root` to every rank.
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  // Every rank's value, indexed by rank.
  virtual std::vector<std::uint64_t> all_gather(std::uint64_t value) = 0;
};

// The process's communicator: MPI's world when this process was started by
// mpirun (MPI is initialized on first use and finalized at exit), else one
// process. InputError when mpirun started this process as one of several
// but masque was built without MPI.
Communicator& world();

// Whether this process was started by mpirun as one of more than one rank
// (read from the environment; does not initialize MPI).
bool launched_as_rank();
// The number of ranks mpirun started, from the environment (1 outside mpirun).
int launched_world_size();

// After a run that succeeded on this rank: MPI is finalized at exit. A rank
// that never calls it exits without finalizing, so mpirun stops the others
// instead of them waiting in MPI_Finalize.
void mark_clean_exit();

// Whether this masque was built with MPI (MASQUE_MPI) and NCCL.
bool built_with_mpi();
bool built_with_nccl();

// Broadcasts a string from `root` (size first, then the bytes).
std::string broadcast_string(Communicator& comm, const std::string& value, int root);

}  // namespace masque::dist
