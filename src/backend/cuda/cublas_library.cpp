// Loads cuBLAS with dlopen (see cublas_library.h for why). The library is
// looked up by its soname (LD_LIBRARY_PATH, the executable's RUNPATH, the
// system paths), then beside the CUDA runtime this process already loaded, so
// a toolkit outside the system paths works without environment variables.
#include "backend/cuda/cublas_library.h"

#include <dlfcn.h>

#include <string>

#include "core/error.h"

namespace masque::cuda {
namespace {

const std::string kSoname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);

std::string dl_error() {
  const char* message = dlerror();
  return message != nullptr ? message : "unknown error";
}

// Directory of the loaded libcudart (with a trailing '/'), or "" if unknown.
std::string cudart_directory() {
  void* symbol = dlsym(RTLD_DEFAULT, "cudaGetDeviceCount");
  Dl_info info{};
  if (symbol == nullptr || dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return "";
  const std::string path = info.dli_fname;
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

template <class Fn>
void resolve(void* library, const char* name, Fn& fn) {
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) {
    throw InputError(cat("backend 'cuda' is not available: ", kSoname, " has no ", name, " (",
                         dl_error(),
                         "; a cuBLAS older than masque's CUDA toolkit?); use --backend cpu"));
  }
  fn = reinterpret_cast<Fn>(symbol);
}

CublasApi load() {
  // Never closed: the handle lives as long as the process, like the backend.
  void* library = dlopen(kSoname.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::string why;
  if (library == nullptr) {
    why = dl_error();
    const std::string dir = cudart_directory();
    if (!dir.empty()) library = dlopen((dir + kSoname).c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  if (library == nullptr) {
    throw InputError(
        cat("backend 'cuda' is not available: cannot load ", kSoname, " (", why,
            "); install the CUDA toolkit's cuBLAS or put its directory on LD_LIBRARY_PATH, "
            "or use --backend cpu"));
  }
  CublasApi api;
  resolve(library, "cublasCreate_v2", api.create);
  resolve(library, "cublasDestroy_v2", api.destroy);
  resolve(library, "cublasSetMathMode", api.set_math_mode);
  resolve(library, "cublasSgemm_v2", api.sgemm);
  resolve(library, "cublasGetStatusString", api.status_string);
  return api;
}

}  // namespace

const CublasApi& cublas_api() {
  // A failed load throws out of the initializer, so the next call retries.
  static const CublasApi api = load();
  return api;
}

}  // namespace masque::cuda
