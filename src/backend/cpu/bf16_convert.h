// bfloat16 <-> float32 conversion and the CPU feature checks of the bf16
// path (`--dtype bf16`). bfloat16 is the top half of a float32: same
// exponent range, 8 mantissa bits. Rounding is round-to-nearest-even, the
// way AVX512_BF16's vcvtne2ps2bf16 does it, so the scalar and vector
// conversions agree bit for bit: NaN stays NaN (made quiet, sign kept),
// infinities stay infinite, and float32 subnormal inputs become a zero of
// the same sign (the instruction treats denormal inputs as zero).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace masque::cpu {

using bf16 = std::uint16_t;

inline bf16 float_to_bf16(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16>((bits >> 16) | 0x0040u);
  if ((bits & 0x7f800000u) == 0) return static_cast<bf16>((bits >> 16) & 0x8000u);
  // Adding 0x7fff rounds up past the half-way point; the kept LSB breaks ties to even.
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<bf16>(bits >> 16);
}

inline float bf16_to_float(bf16 h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// dst[i] = float_to_bf16(src[i]) with AVX512_BF16 where the CPU has it.
void convert_to_bf16(bf16* dst, const float* src, std::size_t n);

// CPU features, read once (cpuid). MASQUE_CPU_FEATURES_OFF (comma-separated
// names: avx512_bf16, amx_bf16) hides features, so tests and benchmarks can
// run the fallback and error paths on a CPU that has them.
bool cpu_has_avx512_bf16();
// AMX-BF16 present and the kernel granted this process the AMX tile state
// (Linux: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), requested once).
bool cpu_has_amx_bf16();

}  // namespace masque::cpu
