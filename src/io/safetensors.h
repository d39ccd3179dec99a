// safetensors: the tensor file format of Hugging Face (docs/safetensors.md).
// The writer emits what the reference writer emits (header padded with spaces
// to a multiple of 8, "__metadata__" with "format": "pt", tensors laid out
// contiguously in name order). The reader memory-maps the file and rejects
// exactly what the reference reader rejects, naming the file and the problem,
// so a file masque accepts is one transformers accepts and vice versa.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"

namespace masque {

enum class DType { BOOL, U8, I8, U16, I16, F16, BF16, U32, I32, F32, U64, I64, F64 };

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // "F32", "BF16", ...
std::optional<DType> dtype_from_name(std::string_view name);

// Refuses headers larger than this, as the reference reader does.
inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;

// Collects tensors (copied) and writes one file atomically.
class SafetensorsWriter {
 public:
  // bytes.size() must equal numel(shape) * dtype_size(dtype); InputError otherwise.
  void add(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape,
           const void* data, std::size_t bytes);
  void add_f32(const std::string& name, const std::vector<std::int64_t>& shape, const float* data);
  // String metadata next to "format": "pt" (which is always written).
  void set_metadata(const std::string& key, const std::string& value);
  // The whole file as bytes (header + buffer).
  std::string serialize() const;
  // Temp file, fsync, rename: a crash leaves the old file or the new one.
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    DType dtype;
    std::vector<std::int64_t> shape;
    std::string bytes;
  };
  std::map<std::string, Entry> tensors_;  // name order = file order
  std::map<std::string, std::string> metadata_;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets into the data buffer
  std::uint64_t end = 0;
  std::uint64_t numel() const;
};

// A validated, memory-mapped safetensors file.
class SafetensorsFile {
 public:
  // Throws FormatError naming the file and what is wrong.
  explicit SafetensorsFile(const std::filesystem::path& path);
  // Validate an in-memory image (tests, fuzzing); `where` names it in errors.
  static void validate_bytes(const std::uint8_t* data, std::size_t size, std::string_view where,
                             std::vector<TensorInfo>* tensors,
                             std::map<std::string, std::string>* metadata);

  const std::filesystem::path& path() const { return file_.path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by offset
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // FormatError if absent
  const std::uint8_t* data(const std::string& name) const;
  // Tensor converted to float32 (from F32, F16, BF16 or F64). FormatError for
  // other dtypes or a shape different from `expected_shape` (when given).
  std::vector<float> to_f32(const std::string& name,
                            const std::vector<std::int64_t>* expected_shape = nullptr) const;
  // Same, into caller memory of exactly numel floats.
  void read_f32(const std::string& name, float* out, std::size_t numel) const;

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> by_name_;
  std::map<std::string, std::string> metadata_;
  std::size_t buffer_offset_ = 0;
};

// Half-precision conversions (round to nearest even), used for BF16/F16 files.
float bf16_to_f32(std::uint16_t bits);
std::uint16_t f32_to_bf16(float value);
float f16_to_f32(std::uint16_t bits);

}  // namespace masque
