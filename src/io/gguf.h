// GGUF v3: llama.cpp's model file format (docs/gguf.md). A file is
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x (string key, u32 value type, value)
//   tensor_count x (string name, u32 n_dims, u64 dims[n_dims] innermost first,
//                   u32 ggml type, u64 offset into the data section)
//   zero padding to general.alignment (default 32), then the data section,
//   each tensor at its offset, offsets = running sum of sizes padded to the
//   alignment (exactly what llama.cpp's loader demands).
// This header is the whole public surface: values, tensor types, the writer
// (any metadata + tensors; write_gguf_f32 for "metadata + named f32 tensors",
// e.g. llama.cpp control vectors) and the strict, memory-mapped reader.
// Model-level export/import (llama.* keys, tokenizer, Q/K permutation) lives
// in src/infer/gguf_model.h; io/ knows bytes, not models.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mapped_file.h"

namespace masque {

// Metadata value types (the u32 written before each value).
enum class GgufType : std::uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

// Bytes of one value of a scalar type; 0 for STRING, ARRAY and unknown types
// (the reader checks raw file values with it before they become a GgufType).
std::size_t gguf_scalar_size(GgufType type);
std::string_view gguf_type_name(GgufType type);  // "u32", "string", "array", ...

// One metadata value: a scalar, a string, or a flat array of scalars or
// strings (nested arrays are refused by the reader: llama.cpp has none).
class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue u8(std::uint8_t v);
  static GgufValue i8(std::int8_t v);
  static GgufValue u16(std::uint16_t v);
  static GgufValue i16(std::int16_t v);
  static GgufValue u32(std::uint32_t v);
  static GgufValue i32(std::int32_t v);
  static GgufValue u64(std::uint64_t v);
  static GgufValue i64(std::int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue strings(std::vector<std::string> v);
  static GgufValue i32s(const std::vector<std::int32_t>& v);
  static GgufValue u32s(const std::vector<std::uint32_t>& v);
  static GgufValue f32s(const std::vector<float>& v);
  // A scalar of `type` from its little-endian bit pattern (reader).
  static GgufValue scalar(GgufType type, std::uint64_t bits);
  // Array of numeric scalars of `elem` given as little-endian bytes (reader).
  static GgufValue numeric_array(GgufType elem, std::string bytes);

  GgufType type() const { return type_; }
  GgufType array_type() const { return elem_; }  // ARRAY only
  bool is_integer() const;                       // U8..I64 scalar
  // Exact conversions; FormatError naming `key` when the type or range is wrong.
  std::uint64_t as_u64(std::string_view key) const;
  std::int64_t as_i64(std::string_view key) const;
  double as_f64(std::string_view key) const;  // F32, F64 (and integers)
  bool as_bool(std::string_view key) const;
  const std::string& as_string(std::string_view key) const;
  const std::vector<std::string>& as_strings(std::string_view key) const;  // STRING array
  std::vector<std::int64_t> as_i64s(std::string_view key) const;           // integer array
  std::vector<double> as_f64s(std::string_view key) const;                 // numeric array
  std::uint64_t array_size() const;

  // Serialized value (without the leading type u32), appended to out.
  void append_to(std::string& out) const;

 private:
  GgufType type_ = GgufType::U8;
  GgufType elem_ = GgufType::U8;
  std::uint64_t bits_ = 0;            // scalar payload, little-endian bit pattern
  std::string text_;                  // STRING; numeric ARRAY payload bytes
  std::vector<std::string> strings_;  // STRING ARRAY
};

// Tensor element types masque writes and reads (ggml_type ids). Any other id
// is refused by the reader with the id and the tensor's name.
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q8_0 = 8,  // blocks of 32: f16 scale d, 32 x int8 q; x = d * q
  BF16 = 30,
};
std::string_view ggml_type_name(GgmlType type);  // "F32", "F16", "Q8_0", "BF16"
// Known id -> type (false for ids masque does not handle).
bool ggml_type_from_id(std::uint32_t id, GgmlType* type);
// Elements per block and bytes per block (1 and 4 for F32; 32 and 34 for Q8_0).
std::uint64_t ggml_block_size(GgmlType type);
std::uint64_t ggml_block_bytes(GgmlType type);
// Bytes of a row of `n` elements; InputError unless n is a multiple of the block.
std::uint64_t ggml_row_bytes(GgmlType type, std::uint64_t n);
// float32 -> encoded bytes (n must be a multiple of the block size) and back.
std::string ggml_encode(GgmlType type, const float* data, std::uint64_t n);
void ggml_decode(GgmlType type, const std::uint8_t* bytes, std::uint64_t n, float* out);

inline constexpr std::uint32_t kGgufVersion = 3;
inline constexpr std::uint64_t kGgufDefaultAlignment = 32;

// Collects metadata (kept in insertion order) and tensors, then writes one
// file atomically (temp file, fsync, rename).
class GgufWriter {
 public:
  // Adds or replaces a key; general.alignment must be a u32 power of two.
  void set(const std::string& key, GgufValue value);
  // dims in GGUF order (innermost first: a row-major [rows, cols] matrix is
  // {cols, rows}); bytes.size() must match type and dims. Duplicate names
  // and bad sizes are InputError.
  void add_tensor(const std::string& name, GgmlType type, std::vector<std::uint64_t> dims,
                  std::string bytes);
  // Encodes float32 data (row-major, dims innermost first) as `type`.
  void add_tensor_f32(const std::string& name, GgmlType type, std::vector<std::uint64_t> dims,
                      const float* data);
  std::uint64_t alignment() const;
  std::string serialize() const;  // the whole file (tests, fuzz seeds)
  void write(const std::filesystem::path& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<std::uint64_t> dims;
    std::string bytes;
  };
  std::string header() const;  // everything before the data section, padded
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

// The generic "metadata + named f32 tensors" file (control vectors and other
// side files): each tensor is 1-D or given with its GGUF dims.
struct GgufF32Tensor {
  std::string name;
  std::vector<std::uint64_t> dims;  // innermost first
  std::vector<float> data;
};
void write_gguf_f32(const std::filesystem::path& path,
                    const std::vector<std::pair<std::string, GgufValue>>& metadata,
                    const std::vector<GgufF32Tensor>& tensors);

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<std::uint64_t> dims;  // innermost first
  std::uint64_t offset = 0;         // into the data section
  std::uint64_t bytes = 0;
  std::uint64_t numel() const;
};

// Everything parsed from a GGUF image; offsets checked against its size.
struct GgufContents {
  std::uint32_t version = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::map<std::string, std::size_t> key_index;
  std::vector<GgufTensorInfo> tensors;  // file order
  std::map<std::string, std::size_t> tensor_index;
  std::uint64_t alignment = kGgufDefaultAlignment;
  std::uint64_t data_offset = 0;  // absolute file offset of the data section
};

// Strict parse of an in-memory image: bad magic or version, truncation,
// counts that cannot fit the file, duplicate keys or tensor names, unknown
// value or tensor types, bad dims, misaligned or out-of-order offsets and
// tensors past the end are FormatError naming `where`, the byte offset and
// the field. Used by GgufFile and the fuzz harness.
GgufContents parse_gguf(const std::uint8_t* data, std::size_t size, std::string_view where);

// A validated, memory-mapped GGUF file.
class GgufFile {
 public:
  explicit GgufFile(const std::filesystem::path& path);  // FormatError
  const std::filesystem::path& path() const { return file_.path(); }
  std::uint32_t version() const { return contents_.version; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const {
    return contents_.metadata;
  }
  const std::vector<GgufTensorInfo>& tensors() const { return contents_.tensors; }
  const GgufValue* find(const std::string& key) const;  // nullptr if absent
  const GgufValue& get(const std::string& key) const;   // FormatError naming the key
  bool has_tensor(const std::string& name) const;
  const GgufTensorInfo& tensor(const std::string& name) const;  // FormatError if absent
  const std::uint8_t* tensor_data(const std::string& name) const;
  // Decoded to float32 (any supported type), row-major with dims innermost first.
  std::vector<float> tensor_f32(const std::string& name) const;

 private:
  MappedFile file_;
  GgufContents contents_;
};

}  // namespace masque
