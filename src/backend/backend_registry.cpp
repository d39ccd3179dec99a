// backend_by_name: the one place that knows which backends this build has.
// MASQUE_HAVE_CUDA comes with the masque_backend_cuda library (CMakeLists.txt),
// which exists when nvcc was found at configure time.
#include <atomic>

#include "backend/backend.h"
#include "core/error.h"

#ifdef MASQUE_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace masque {

namespace {
#ifdef MASQUE_HAVE_CUDA
constexpr const char* kBuilt = "cpu, cuda";
#else
constexpr const char* kBuilt = "cpu";
#endif
}  // namespace

namespace {
std::atomic<const Backend*> g_default{nullptr};
}  // namespace

const Backend& default_backend() {
  const Backend* b = g_default.load();
  return b != nullptr ? *b : cpu_backend();
}

void set_default_backend(const Backend& backend) { g_default.store(&backend); }

const Backend& backend_by_name(const std::string& name) {
  if (name == "cpu") return cpu_backend();
  if (name == "cuda") {
#ifdef MASQUE_HAVE_CUDA
    return cuda_backend();  // throws InputError when no usable device is present
#else
    throw InputError(
        "backend 'cuda' is not available: masque was built without CUDA (nvcc was not found at "
        "configure time, "
        "or -DMASQUE_CUDA=OFF); use --backend cpu, or rebuild with the CUDA toolkit installed");
#endif
  }
  throw InputError(cat("unknown backend '", name, "' (this build has: ", kBuilt, ")"));
}

}  // namespace masque
