// GgufValue: construction, exact typed access and serialization of GGUF
// metadata values. Accessors never coerce silently: a u32 asked for as a
// string, or a negative i32 asked for as u64, is a FormatError naming the
// key, because llama.cpp itself enforces exact key types.
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/gguf.h"

namespace masque {

std::size_t gguf_scalar_size(GgufType type) {
  switch (type) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    default:
      return 0;
  }
}

namespace {

template <class T>
std::uint64_t bits_of(T v) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}

// Reads a scalar of `type` from little-endian bits (x86/ARM hosts are LE;
// GGUF is LE by default and masque does not write big-endian files).
bool scalar_integer(GgufType type, std::uint64_t bits, std::int64_t* as_signed,
                    std::uint64_t* as_unsigned, bool* negative) {
  *negative = false;
  switch (type) {
    case GgufType::U8:
    case GgufType::U16:
    case GgufType::U32:
    case GgufType::U64: {
      const std::size_t n = gguf_scalar_size(type);
      const std::uint64_t v = n == 8 ? bits : (bits & ((std::uint64_t{1} << (8 * n)) - 1));
      *as_unsigned = v;
      *as_signed = static_cast<std::int64_t>(v);
      return true;
    }
    case GgufType::I8:
      *as_signed = static_cast<std::int8_t>(bits & 0xFF);
      break;
    case GgufType::I16:
      *as_signed = static_cast<std::int16_t>(bits & 0xFFFF);
      break;
    case GgufType::I32:
      *as_signed = static_cast<std::int32_t>(bits & 0xFFFFFFFFu);
      break;
    case GgufType::I64:
      *as_signed = static_cast<std::int64_t>(bits);
      break;
    default:
      return false;
  }
  *negative = *as_signed < 0;
  *as_unsigned = static_cast<std::uint64_t>(*as_signed);
  return true;
}

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::U8:
      return "u8";
    case GgufType::I8:
      return "i8";
    case GgufType::U16:
      return "u16";
    case GgufType::I16:
      return "i16";
    case GgufType::U32:
      return "u32";
    case GgufType::I32:
      return "i32";
    case GgufType::F32:
      return "f32";
    case GgufType::BOOL:
      return "bool";
    case GgufType::STRING:
      return "string";
    case GgufType::ARRAY:
      return "array";
    case GgufType::U64:
      return "u64";
    case GgufType::I64:
      return "i64";
    case GgufType::F64:
      return "f64";
  }
  return "unknown";
}

#define MASQUE_GGUF_SCALAR(fn, T, TYPE) \
  GgufValue GgufValue::fn(T v) {        \
    GgufValue out;                      \
    out.type_ = GgufType::TYPE;         \
    out.bits_ = bits_of<T>(v);          \
    return out;                         \
  }
MASQUE_GGUF_SCALAR(u8, std::uint8_t, U8)
MASQUE_GGUF_SCALAR(i8, std::int8_t, I8)
MASQUE_GGUF_SCALAR(u16, std::uint16_t, U16)
MASQUE_GGUF_SCALAR(i16, std::int16_t, I16)
MASQUE_GGUF_SCALAR(u32, std::uint32_t, U32)
MASQUE_GGUF_SCALAR(i32, std::int32_t, I32)
MASQUE_GGUF_SCALAR(u64, std::uint64_t, U64)
MASQUE_GGUF_SCALAR(i64, std::int64_t, I64)
MASQUE_GGUF_SCALAR(f32, float, F32)
MASQUE_GGUF_SCALAR(f64, double, F64)
#undef MASQUE_GGUF_SCALAR

GgufValue GgufValue::boolean(bool v) {
  GgufValue out;
  out.type_ = GgufType::BOOL;
  out.bits_ = v ? 1 : 0;
  return out;
}

GgufValue GgufValue::scalar(GgufType type, std::uint64_t bits) {
  if (gguf_scalar_size(type) == 0) {
    throw InputError(cat("GGUF type ", gguf_type_name(type), " is not a scalar"));
  }
  GgufValue out;
  out.type_ = type;
  const std::size_t n = gguf_scalar_size(type);
  out.bits_ = n == 8 ? bits : (bits & ((std::uint64_t{1} << (8 * n)) - 1));
  if (type == GgufType::BOOL) out.bits_ = out.bits_ != 0;
  return out;
}

GgufValue GgufValue::string(std::string v) {
  GgufValue out;
  out.type_ = GgufType::STRING;
  out.text_ = std::move(v);
  return out;
}

GgufValue GgufValue::strings(std::vector<std::string> v) {
  GgufValue out;
  out.type_ = GgufType::ARRAY;
  out.elem_ = GgufType::STRING;
  out.strings_ = std::move(v);
  return out;
}

GgufValue GgufValue::numeric_array(GgufType elem, std::string bytes) {
  const std::size_t n = gguf_scalar_size(elem);
  if (n == 0 || bytes.size() % n != 0) {
    throw InputError(
        cat("GGUF numeric array of ", gguf_type_name(elem), " with ", bytes.size(), " bytes"));
  }
  GgufValue out;
  out.type_ = GgufType::ARRAY;
  out.elem_ = elem;
  out.text_ = std::move(bytes);
  return out;
}

GgufValue GgufValue::i32s(const std::vector<std::int32_t>& v) {
  return numeric_array(GgufType::I32,
                       std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
}
GgufValue GgufValue::u32s(const std::vector<std::uint32_t>& v) {
  return numeric_array(GgufType::U32,
                       std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
}
GgufValue GgufValue::f32s(const std::vector<float>& v) {
  return numeric_array(GgufType::F32,
                       std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
}

bool GgufValue::is_integer() const {
  switch (type_) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::U16:
    case GgufType::I16:
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::U64:
    case GgufType::I64:
      return true;
    default:
      return false;
  }
}

std::uint64_t GgufValue::as_u64(std::string_view key) const {
  std::int64_t s = 0;
  std::uint64_t u = 0;
  bool negative = false;
  if (!scalar_integer(type_, bits_, &s, &u, &negative)) {
    throw FormatError(
        cat("GGUF key ", key, " is ", gguf_type_name(type_), ", expected an integer"));
  }
  if (negative) throw FormatError(cat("GGUF key ", key, " is negative (", s, ")"));
  return u;
}

std::int64_t GgufValue::as_i64(std::string_view key) const {
  std::int64_t s = 0;
  std::uint64_t u = 0;
  bool negative = false;
  if (!scalar_integer(type_, bits_, &s, &u, &negative)) {
    throw FormatError(
        cat("GGUF key ", key, " is ", gguf_type_name(type_), ", expected an integer"));
  }
  if (type_ == GgufType::U64 &&
      u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw FormatError(cat("GGUF key ", key, " = ", u, " is out of range"));
  }
  return s;
}

double GgufValue::as_f64(std::string_view key) const {
  if (type_ == GgufType::F32) {
    float f;
    const auto b = static_cast<std::uint32_t>(bits_);
    std::memcpy(&f, &b, 4);
    return f;
  }
  if (type_ == GgufType::F64) {
    double d;
    std::memcpy(&d, &bits_, 8);
    return d;
  }
  if (is_integer()) return static_cast<double>(as_i64(key));
  throw FormatError(cat("GGUF key ", key, " is ", gguf_type_name(type_), ", expected a number"));
}

bool GgufValue::as_bool(std::string_view key) const {
  if (type_ != GgufType::BOOL) {
    throw FormatError(cat("GGUF key ", key, " is ", gguf_type_name(type_), ", expected bool"));
  }
  return bits_ != 0;
}

const std::string& GgufValue::as_string(std::string_view key) const {
  if (type_ != GgufType::STRING) {
    throw FormatError(cat("GGUF key ", key, " is ", gguf_type_name(type_), ", expected string"));
  }
  return text_;
}

const std::vector<std::string>& GgufValue::as_strings(std::string_view key) const {
  if (type_ != GgufType::ARRAY || elem_ != GgufType::STRING) {
    throw FormatError(cat("GGUF key ", key, " is not an array of strings"));
  }
  return strings_;
}

std::vector<std::int64_t> GgufValue::as_i64s(std::string_view key) const {
  GgufValue scalar;
  scalar.type_ = elem_;
  if (type_ != GgufType::ARRAY || !scalar.is_integer()) {
    throw FormatError(cat("GGUF key ", key, " is not an array of integers"));
  }
  const std::size_t n = gguf_scalar_size(elem_);
  std::vector<std::int64_t> out(text_.size() / n);
  for (std::size_t i = 0; i < out.size(); ++i) {
    scalar.bits_ = 0;
    std::memcpy(&scalar.bits_, text_.data() + i * n, n);
    out[i] = scalar.as_i64(key);
  }
  return out;
}

std::vector<double> GgufValue::as_f64s(std::string_view key) const {
  GgufValue scalar;
  scalar.type_ = elem_;
  const std::size_t n = gguf_scalar_size(elem_);
  if (type_ != GgufType::ARRAY || n == 0 || elem_ == GgufType::BOOL) {
    throw FormatError(cat("GGUF key ", key, " is not an array of numbers"));
  }
  std::vector<double> out(text_.size() / n);
  for (std::size_t i = 0; i < out.size(); ++i) {
    scalar.bits_ = 0;
    std::memcpy(&scalar.bits_, text_.data() + i * n, n);
    out[i] = scalar.as_f64(key);
  }
  return out;
}

std::uint64_t GgufValue::array_size() const {
  if (type_ != GgufType::ARRAY) return 0;
  if (elem_ == GgufType::STRING) return strings_.size();
  return text_.size() / gguf_scalar_size(elem_);
}

namespace {
void put_u32(std::string& out, std::uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), 4);
}
void put_u64(std::string& out, std::uint64_t v) {
  out.append(reinterpret_cast<const char*>(&v), 8);
}
void put_string(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out.append(s);
}
}  // namespace

void GgufValue::append_to(std::string& out) const {
  switch (type_) {
    case GgufType::STRING:
      put_string(out, text_);
      return;
    case GgufType::ARRAY:
      put_u32(out, static_cast<std::uint32_t>(elem_));
      put_u64(out, array_size());
      if (elem_ == GgufType::STRING) {
        for (const std::string& s : strings_) put_string(out, s);
      } else {
        out.append(text_);
      }
      return;
    default:
      out.append(reinterpret_cast<const char*>(&bits_), gguf_scalar_size(type_));
  }
}

}  // namespace masque
