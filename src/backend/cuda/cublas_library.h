// cuBLAS, loaded on first use instead of linked. Linking libcublas makes every
// process that contains the backend registry (the CLI, every test binary) map
// and relocate cuBLAS at startup: about 0.1 s and 220 MB of resident memory
// per process, paid even by CPU-only runs. Loading it when the CUDA backend is
// first created confines that cost to runs that use the GPU.
#pragma once
#include <cublas_v2.h>

namespace masque::cuda {

// The cuBLAS entry points the backend uses (the _v2 names behind cublas_v2.h's macros).
struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

// Loads libcublas.so.<major of the toolkit masque was built with> once per
// process (kept loaded until exit). Throws InputError naming the library, the
// loader's message and the alternative (--backend cpu) when it cannot.
const CublasApi& cublas_api();

}  // namespace masque::cuda
