// The single-process communicator, the launcher environment checks and the
// choice between it and MPI's world (mpi_communicator.cpp, built with MPI).
#include "dist/communicator.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace masque::dist {

#ifdef MASQUE_HAVE_MPI
Communicator& mpi_world();  // mpi_communicator.cpp
#endif

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string describe() const override { return "1 process"; }
  void sum_floats(float*, std::size_t, const Backend&, Reduction) override {}
  void sum_doubles(double*, std::size_t) override {}
  void broadcast(void*, std::size_t, int) override {}
  std::vector<std::uint64_t> all_gather(std::uint64_t value) override { return {value}; }
};

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return (end != nullptr && *end == '\0' && parsed > 0) ? static_cast<int>(parsed) : fallback;
}

}  // namespace

Reduction parse_reduction(const std::string& name) {
  if (name == "ordered") return Reduction::ordered;
  if (name == "mpi") return Reduction::mpi;
  throw InputError(cat("--reduce '", name,
                       "' is not a reduction: use ordered (fixed summation order, bit-identical "
                       "runs) or mpi (MPI_Allreduce)"));
}

const char* reduction_name(Reduction reduction) {
  return reduction == Reduction::ordered ? "ordered" : "mpi";
}

int launched_world_size() {
  // Open MPI sets OMPI_COMM_WORLD_SIZE; MPICH and Slurm's PMI set PMI_SIZE.
  return env_int("OMPI_COMM_WORLD_SIZE", env_int("PMI_SIZE", 1));
}

bool launched_as_rank() { return launched_world_size() > 1; }

bool built_with_mpi() {
#ifdef MASQUE_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool built_with_nccl() {
#ifdef MASQUE_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

#ifndef MASQUE_HAVE_MPI
void mark_clean_exit() {}
#endif

Communicator& world() {
  if (launched_as_rank()) {
#ifdef MASQUE_HAVE_MPI
    return mpi_world();
#else
    throw InputError(cat("this process is one of ", launched_world_size(),
                         " started by mpirun, but masque was built without MPI, so every rank "
                         "would train alone (install libopenmpi-dev and rebuild with "
                         "-DMASQUE_MPI=ON, or run one process without mpirun)"));
#endif
  }
  static SingleProcess single;
  return single;
}

std::string broadcast_string(Communicator& comm, const std::string& value, int root) {
  std::uint64_t size = value.size();
  comm.broadcast(&size, sizeof(size), root);
  std::string out = comm.rank() == root ? value : std::string(size, '\0');
  if (size > 0) comm.broadcast(out.data(), size, root);
  return out;
}

}  // namespace masque::dist
