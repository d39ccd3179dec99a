// Gradient sums of GPU ranks on the device through NCCL (built when CUDA and
// NCCL are found and MASQUE_MPI is on). The NCCL communicator is
// bootstrapped over the MPI world: rank 0 creates the unique id and
// broadcasts it. NCCL picks the ring/tree order itself, so GPU sums are not
// in masque's fixed rank order (docs/distributed.md).
#pragma once
#ifdef MASQUE_HAVE_NCCL
#include <cstddef>
#include <memory>

namespace masque::dist {

class Communicator;

class NcclSum {
 public:
  // Collective: every rank of `world` must call it (on its first GPU sum).
  static std::unique_ptr<NcclSum> create(Communicator& world);
  ~NcclSum();
  NcclSum(const NcclSum&) = delete;
  NcclSum& operator=(const NcclSum&) = delete;
  // In-place sum of `count` device floats over all ranks, on the legacy
  // default stream the CUDA backend uses, waited for before returning.
  void sum(float* device, std::size_t count);

 private:
  NcclSum() = default;
  void* comm_ = nullptr;  // ncclComm_t (kept opaque so this header needs no nccl.h)
};

}  // namespace masque::dist
#endif  // MASQUE_HAVE_NCCL
