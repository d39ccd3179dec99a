// Run-time CPU feature checks (see cpu_features.h).
#include "backend/cpu/cpu_features.h"

#include "core/error.h"

namespace masque::cpu {

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return has;
}

CpuIsa resolve_isa(CpuIsa isa) {
  if (isa == CpuIsa::kAuto) return cpu_has_avx512() ? CpuIsa::kAvx512 : CpuIsa::kAvx2;
  if (isa == CpuIsa::kAvx512 && !cpu_has_avx512())
    throw Error("an AVX-512 kernel was requested on a CPU without AVX-512");
  return isa;
}

}  // namespace masque::cpu
