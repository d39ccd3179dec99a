// NcclSum (nccl_sum.h): ncclAllReduce on the CUDA backend's stream. Every
// NCCL and CUDA call is checked; errors name the call and NCCL's reason.
#ifdef MASQUE_HAVE_NCCL
#include "dist/nccl_sum.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "core/error.h"
#include "dist/communicator.h"

namespace masque::dist {
namespace {

void check(ncclResult_t status, const char* what) {
  if (status == ncclSuccess) return;
  throw Error(cat("NCCL ", what, " failed: ", ncclGetErrorString(status),
                  " (NCCL_DEBUG=INFO prints NCCL's own log)"));
}

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  (void)cudaGetLastError();
  throw Error(cat("CUDA ", what, " failed: ", cudaGetErrorString(status)));
}

}  // namespace

std::unique_ptr<NcclSum> NcclSum::create(Communicator& world) {
  ncclUniqueId id{};
  if (world.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  world.broadcast(&id, sizeof(id), 0);
  std::unique_ptr<NcclSum> out(new NcclSum());
  ncclComm_t comm = nullptr;
  check(ncclCommInitRank(&comm, world.size(), id, world.rank()), "ncclCommInitRank");
  out->comm_ = comm;
  return out;
}

NcclSum::~NcclSum() {
  if (comm_ != nullptr) (void)ncclCommDestroy(static_cast<ncclComm_t>(comm_));
}

void NcclSum::sum(float* device, std::size_t count) {
  // Stream 0 is the legacy default stream, the one every CUDA backend op
  // runs on, so the sum is ordered after the backward and before AdamW.
  check(ncclAllReduce(device, device, count, ncclFloat32, ncclSum, static_cast<ncclComm_t>(comm_),
                      /*stream=*/nullptr),
        "ncclAllReduce (gradients)");
  check(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize after ncclAllReduce");
}

}  // namespace masque::dist
#endif  // MASQUE_HAVE_NCCL
