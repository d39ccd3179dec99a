// The CUDA backend's entry point. The class itself lives in cuda_backend.cpp
// (host compiler, C++20); its kernels in the .cu files behind cuda_kernels.h.
// backend_by_name("cuda") is the usual way in; this header is for the
// registry and for tests.
#pragma once
#include "backend/backend.h"

namespace masque {

// The process-wide CUDA backend on the current device (device 0 unless the
// caller chose another), created on first use. Throws InputError naming why it
// cannot run (no driver, no device, a device older than sm_80) and the
// alternative (--backend cpu).
const Backend& cuda_backend();

}  // namespace masque
