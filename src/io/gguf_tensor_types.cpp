// ggml tensor element types masque handles: F32, F16, BF16 and Q8_0, with
// their block geometry and float32 encode/decode. Q8_0 follows ggml's
// reference quantizer (quantize_row_q8_0_ref): per block of 32, d = max|x|/127
// stored as f16, q = round(x / d); decoding is d * q, so the worst error per
// element is d/2 (plus the f16 rounding of d).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/gguf.h"
#include "io/safetensors.h"

namespace masque {
namespace {

// float32 -> IEEE half, round to nearest even (NaN stays NaN, overflow -> inf).
std::uint16_t f32_to_f16(float value) {
  std::uint32_t x;
  std::memcpy(&x, &value, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t exp = (x >> 23) & 0xFFu;
  std::uint32_t mant = x & 0x7FFFFFu;
  if (exp == 0xFF) return static_cast<std::uint16_t>(sign | 0x7C00u | (mant ? 0x200u : 0));
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (e <= 0) {
    if (e < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;  // implicit bit; shift into the subnormal range
    const int shift = 14 - e;
    std::uint32_t half = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1);
    const std::uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
  const std::uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;  // may carry into exp: correct
  return static_cast<std::uint16_t>(sign | half);
}

constexpr std::uint64_t kQ8Block = 32;
constexpr std::uint64_t kQ8Bytes = 2 + kQ8Block;

}  // namespace

std::string_view ggml_type_name(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return "F32";
    case GgmlType::F16:
      return "F16";
    case GgmlType::Q8_0:
      return "Q8_0";
    case GgmlType::BF16:
      return "BF16";
  }
  return "unknown";
}

bool ggml_type_from_id(std::uint32_t id, GgmlType* type) {
  switch (id) {
    case 0:
      *type = GgmlType::F32;
      return true;
    case 1:
      *type = GgmlType::F16;
      return true;
    case 8:
      *type = GgmlType::Q8_0;
      return true;
    case 30:
      *type = GgmlType::BF16;
      return true;
    default:
      return false;
  }
}

std::uint64_t ggml_block_size(GgmlType type) { return type == GgmlType::Q8_0 ? kQ8Block : 1; }

std::uint64_t ggml_block_bytes(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return 4;
    case GgmlType::F16:
    case GgmlType::BF16:
      return 2;
    case GgmlType::Q8_0:
      return kQ8Bytes;
  }
  return 0;
}

std::uint64_t ggml_row_bytes(GgmlType type, std::uint64_t n) {
  const std::uint64_t block = ggml_block_size(type);
  if (n % block != 0) {
    throw InputError(cat(ggml_type_name(type), " needs rows that are a multiple of ", block,
                         " elements, got ", n, " (use --type f16 or f32 for this shape)"));
  }
  return n / block * ggml_block_bytes(type);
}

std::string ggml_encode(GgmlType type, const float* data, std::uint64_t n) {
  std::string out(ggml_row_bytes(type, n), '\0');
  auto* dst = reinterpret_cast<std::uint8_t*>(out.data());
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, data, n * 4);
      break;
    case GgmlType::F16:
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint16_t h = f32_to_f16(data[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      break;
    case GgmlType::BF16:
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint16_t h = f32_to_bf16(data[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      break;
    case GgmlType::Q8_0:
      for (std::uint64_t b = 0; b < n / kQ8Block; ++b) {
        const float* x = data + b * kQ8Block;
        float amax = 0.0f;
        for (std::uint64_t i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(x[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        std::uint8_t* block = dst + b * kQ8Bytes;
        const std::uint16_t dh = f32_to_f16(d);
        std::memcpy(block, &dh, 2);
        for (std::uint64_t i = 0; i < kQ8Block; ++i) {
          const auto q = static_cast<std::int8_t>(std::lround(x[i] * id));
          block[2 + i] = static_cast<std::uint8_t>(q);
        }
      }
      break;
  }
  return out;
}

void ggml_decode(GgmlType type, const std::uint8_t* bytes, std::uint64_t n, float* out) {
  ggml_row_bytes(type, n);  // validates the block multiple
  switch (type) {
    case GgmlType::F32:
      std::memcpy(out, bytes, n * 4);
      break;
    case GgmlType::F16:
      for (std::uint64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      break;
    case GgmlType::BF16:
      for (std::uint64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      break;
    case GgmlType::Q8_0:
      for (std::uint64_t b = 0; b < n / kQ8Block; ++b) {
        const std::uint8_t* block = bytes + b * kQ8Bytes;
        std::uint16_t dh;
        std::memcpy(&dh, block, 2);
        const float d = f16_to_f32(dh);
        for (std::uint64_t i = 0; i < kQ8Block; ++i) {
          out[b * kQ8Block + i] = d * static_cast<float>(static_cast<std::int8_t>(block[2 + i]));
        }
      }
      break;
  }
}

}  // namespace masque
