// Which vector instruction set the CPU kernels run. The build's baseline is
// AVX2+FMA (x86-64-v3); kernels with an AVX-512 variant pick it at run time
// where the CPU has it, and tests force each variant through CpuIsa.
#pragma once

namespace masque::cpu {

enum class CpuIsa { kAuto, kAvx2, kAvx512 };

bool cpu_has_avx512();  // AVX-512 F and DQ

// kAuto -> the best the CPU has; kAvx512 on a CPU without it throws Error.
CpuIsa resolve_isa(CpuIsa isa);

}  // namespace masque::cpu
