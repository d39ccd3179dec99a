// bf16 conversion and the bf16 path's CPU feature checks (see bf16_convert.h).
#include "backend/cpu/bf16_convert.h"

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace masque::cpu {

namespace {

#define MASQUE_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

bool feature_hidden(const char* name) {
  const char* off = std::getenv("MASQUE_CPU_FEATURES_OFF");
  if (off == nullptr) return false;
  const std::string list = std::string(",") + off + ",";
  return list.find(std::string(",") + name + ",") != std::string::npos;
}

// Linux keeps AMX's 8 KiB tile state off until a process asks for it; the
// first tile instruction without permission would kill the process (SIGILL).
bool request_amx_permission() {
#if defined(__linux__)
  constexpr int kArchReqXcompPerm = 0x1023;  // ARCH_REQ_XCOMP_PERM (asm/prctl.h)
  constexpr int kXfeatureXtiledata = 18;     // XFEATURE_XTILEDATA
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

MASQUE_BF16_TARGET void convert_avx512(bf16* dst, const float* src, std::size_t n) {
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i, (__m512i)v);
  }
  for (; i < n; i += 16) {
    const std::size_t left = n - i < 16 ? n - i : 16;
    const __mmask16 mask = static_cast<__mmask16>((1u << left) - 1u);
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, src + i));
    _mm256_mask_storeu_epi16(dst + i, mask, (__m256i)v);
  }
}

}  // namespace

bool cpu_has_avx512_bf16() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512bf16") && !feature_hidden("avx512_bf16");
  return has;
}

bool cpu_has_amx_bf16() {
  static const bool has = [] {
    if (!cpu_has_avx512_bf16() || feature_hidden("amx_bf16")) return false;
    // cpuid leaf 7 subleaf 0: EDX bit 22 AMX-BF16, bit 24 AMX-TILE.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(0));
    const bool cpu = (edx & (1u << 22)) != 0 && (edx & (1u << 24)) != 0;
    return cpu && request_amx_permission();
  }();
  return has;
}

void convert_to_bf16(bf16* dst, const float* src, std::size_t n) {
  if (cpu_has_avx512_bf16()) {
    convert_avx512(dst, src, n);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]);
}

}  // namespace masque::cpu
