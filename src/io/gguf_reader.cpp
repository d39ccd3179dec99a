// Strict GGUF reader. Every count, length and offset is checked against the
// bytes that remain before it is used (so a hostile file can only produce a
// FormatError, never a huge allocation or an out-of-bounds read), and the
// checks llama.cpp's loader makes are made here too (offsets equal to the
// running sum of aligned sizes, names under 64 bytes, at most 4 dims), so a
// file masque accepts is one llama.cpp accepts. Errors name the file, the
// byte offset and the field.
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/gguf.h"

namespace masque {
namespace {

constexpr std::uint64_t kMaxNameBytes = 63;  // llama.cpp: GGML_MAX_NAME 64 incl. NUL
constexpr std::uint32_t kMaxDims = 4;        // GGML_MAX_DIMS

class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size, std::string_view where)
      : data_(data), size_(size), where_(where) {}

  [[noreturn]] void fail(std::uint64_t at, std::string_view what) const {
    throw FormatError(cat(where_, ": invalid GGUF at byte ", at, ": ", what));
  }
  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }

  void need(std::uint64_t n, std::string_view field) const {
    if (n > remaining()) {
      fail(pos_, cat(field, " needs ", n, " bytes but the file ends after ", remaining(),
                     " (truncated file)"));
    }
  }
  std::uint64_t scalar(std::size_t n, std::string_view field) {
    need(n, field);
    std::uint64_t v = 0;
    std::memcpy(&v, data_ + pos_, n);
    pos_ += n;
    return v;
  }
  std::uint32_t u32(std::string_view field) { return static_cast<std::uint32_t>(scalar(4, field)); }
  std::uint64_t u64(std::string_view field) { return scalar(8, field); }
  std::string str(std::string_view field) {
    const std::uint64_t at = pos_;
    const std::uint64_t len = u64(field);
    if (len > remaining()) {
      fail(at, cat(field, " has length ", len, " but only ", remaining(), " bytes follow"));
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }
  std::string bytes(std::uint64_t n, std::string_view field) {
    need(n, field);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const std::uint8_t* data_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
  std::string_view where_;
};

GgufValue read_value(Cursor& in, std::uint32_t type, const std::string& key, std::uint64_t at) {
  if (type == static_cast<std::uint32_t>(GgufType::STRING)) {
    return GgufValue::string(in.str(cat("string value of ", key)));
  }
  if (type == static_cast<std::uint32_t>(GgufType::ARRAY)) {
    const std::uint64_t elem_at = in.pos();
    const std::uint32_t elem = in.u32(cat("array type of ", key));
    const std::uint64_t count_at = in.pos();
    const std::uint64_t count = in.u64(cat("array length of ", key));
    if (elem == static_cast<std::uint32_t>(GgufType::STRING)) {
      // Each string needs at least its 8-byte length.
      if (count > in.remaining() / 8) {
        in.fail(count_at, cat("array length ", count, " of ", key, " cannot fit in the ",
                              in.remaining(), " bytes that follow"));
      }
      std::vector<std::string> items(count);
      for (std::uint64_t i = 0; i < count; ++i) items[i] = in.str(cat(key, "[", i, "]"));
      return GgufValue::strings(std::move(items));
    }
    if (elem == static_cast<std::uint32_t>(GgufType::ARRAY)) {
      in.fail(elem_at, cat("nested array in ", key, " (not supported by masque or llama.cpp)"));
    }
    const std::size_t n = gguf_scalar_size(static_cast<GgufType>(elem));
    if (n == 0) in.fail(elem_at, cat("unknown array element type ", elem, " in ", key));
    if (count > in.remaining() / n) {
      in.fail(count_at, cat("array length ", count, " of ", key, " cannot fit in the ",
                            in.remaining(), " bytes that follow"));
    }
    return GgufValue::numeric_array(static_cast<GgufType>(elem),
                                    in.bytes(count * n, cat("array data of ", key)));
  }
  const std::size_t n = gguf_scalar_size(static_cast<GgufType>(type));
  if (n == 0) in.fail(at, cat("unknown value type ", type, " for key ", key));
  const std::uint64_t bits = in.scalar(n, cat("value of ", key));
  if (type == static_cast<std::uint32_t>(GgufType::BOOL) && bits > 1) {
    in.fail(in.pos() - 1, cat("bool value of ", key, " is ", bits, " (must be 0 or 1)"));
  }
  return GgufValue::scalar(static_cast<GgufType>(type), bits);
}

std::uint64_t pad_to(std::uint64_t n, std::uint64_t align) {
  return (n + align - 1) / align * align;
}

}  // namespace

std::uint64_t GgufTensorInfo::numel() const {
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) n *= d;
  return n;
}

GgufContents parse_gguf(const std::uint8_t* data, std::size_t size, std::string_view where) {
  Cursor in(data, size, where);
  GgufContents out;
  in.need(4, "magic");
  if (std::memcmp(data, "GGUF", 4) != 0)
    in.fail(0, "bad magic (expected \"GGUF\"): not a GGUF file");
  in.scalar(4, "magic");
  out.version = in.u32("version");
  if (out.version == 0x03000000u || out.version == 0x02000000u) {
    in.fail(4, "big-endian GGUF is not supported (convert it to little-endian)");
  }
  if (out.version != 2 && out.version != kGgufVersion) {
    in.fail(4, cat("version ", out.version, " is not supported (masque reads GGUF v2 and v3)"));
  }
  const std::uint64_t tensor_count = in.u64("tensor_count");
  const std::uint64_t kv_count = in.u64("kv_count");
  // Minimal sizes: a key-value pair is >= 8 + 1 + 4 + 1 bytes, a tensor info
  // >= 8 + 1 + 4 + 8 + 4 + 8 bytes; larger counts cannot be honest.
  if (tensor_count > in.remaining() / 33) {
    in.fail(8, cat("tensor_count ", tensor_count, " cannot fit in a file of ", size, " bytes"));
  }
  if (kv_count > in.remaining() / 14) {
    in.fail(16, cat("kv_count ", kv_count, " cannot fit in a file of ", size, " bytes"));
  }

  for (std::uint64_t i = 0; i < kv_count; ++i) {
    const std::uint64_t at = in.pos();
    std::string key = in.str(cat("key of metadata entry ", i));
    if (key.empty()) in.fail(at, cat("metadata entry ", i, " has an empty key"));
    if (out.key_index.count(key)) in.fail(at, cat("duplicate metadata key ", key));
    const std::uint64_t type_at = in.pos();
    const std::uint32_t type = in.u32(cat("value type of ", key));
    GgufValue value = read_value(in, type, key, type_at);
    if (key == "general.alignment") {
      if (value.type() != GgufType::U32) {
        in.fail(type_at,
                cat("general.alignment is ", gguf_type_name(value.type()), ", must be u32"));
      }
      const std::uint64_t a = value.as_u64(key);
      if (a == 0 || (a & (a - 1)) != 0) {
        in.fail(type_at, cat("general.alignment ", a, " is not a power of two"));
      }
      out.alignment = a;
    }
    out.key_index.emplace(key, out.metadata.size());
    out.metadata.emplace_back(std::move(key), std::move(value));
  }

  std::uint64_t expected_offset = 0;
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    const std::uint64_t at = in.pos();
    GgufTensorInfo info;
    info.name = in.str(cat("name of tensor ", i));
    if (info.name.empty() || info.name.size() > kMaxNameBytes) {
      in.fail(at, cat("tensor ", i, " name has ", info.name.size(), " bytes (1..", kMaxNameBytes,
                      " allowed)"));
    }
    if (out.tensor_index.count(info.name)) in.fail(at, cat("duplicate tensor name ", info.name));
    const std::uint64_t dims_at = in.pos();
    const std::uint32_t n_dims = in.u32(cat("n_dims of ", info.name));
    if (n_dims == 0 || n_dims > kMaxDims) {
      in.fail(dims_at,
              cat("tensor ", info.name, " has ", n_dims, " dims (1..", kMaxDims, " allowed)"));
    }
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const std::uint64_t dim_at = in.pos();
      const std::uint64_t dim = in.u64(cat("dim ", d, " of ", info.name));
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
          (dim != 0 &&
           numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / dim)) {
        in.fail(dim_at, cat("dims of tensor ", info.name, " overflow (element count > 2^63)"));
      }
      numel *= dim;
      info.dims.push_back(dim);
    }
    const std::uint64_t type_at = in.pos();
    const std::uint32_t type_id = in.u32(cat("type of ", info.name));
    if (!ggml_type_from_id(type_id, &info.type)) {
      in.fail(type_at, cat("tensor ", info.name, " has ggml type ", type_id,
                           ", which masque does not handle (supported: F32=0, F16=1, Q8_0=8, "
                           "BF16=30)"));
    }
    if (info.dims[0] % ggml_block_size(info.type) != 0) {
      in.fail(dims_at,
              cat("tensor ", info.name, " is ", ggml_type_name(info.type), " but its row of ",
                  info.dims[0], " elements is not a multiple of ", ggml_block_size(info.type)));
    }
    const std::uint64_t blocks = numel / ggml_block_size(info.type);
    if (blocks > std::numeric_limits<std::uint64_t>::max() / 64 / ggml_block_bytes(info.type)) {
      in.fail(dims_at, cat("tensor ", info.name, " is too large"));
    }
    info.bytes = blocks * ggml_block_bytes(info.type);
    const std::uint64_t offset_at = in.pos();
    info.offset = in.u64(cat("offset of ", info.name));
    if (info.offset != expected_offset) {
      in.fail(offset_at, cat("tensor ", info.name, " has data offset ", info.offset, ", expected ",
                             expected_offset,
                             " (offsets must be the running sum of sizes padded "
                             "to general.alignment ",
                             out.alignment, ")"));
    }
    if (info.bytes > size) {
      in.fail(offset_at, cat("tensor ", info.name, " needs ", info.bytes,
                             " bytes, past the end of a file of ", size, " bytes"));
    }
    expected_offset += pad_to(info.bytes, out.alignment);
    out.tensor_index.emplace(info.name, out.tensors.size());
    out.tensors.push_back(std::move(info));
  }

  out.data_offset = pad_to(in.pos(), out.alignment);
  for (const GgufTensorInfo& t : out.tensors) {
    const std::uint64_t avail = out.data_offset <= size ? size - out.data_offset : 0;
    if (out.data_offset > size || t.offset > avail || t.bytes > avail - t.offset) {
      throw FormatError(cat(where, ": invalid GGUF: tensor ", t.name, " data [",
                            out.data_offset + t.offset, ", ", out.data_offset + t.offset + t.bytes,
                            ") lies past the end of the file (", size, " bytes; truncated file?)"));
    }
  }
  return out;
}

GgufFile::GgufFile(const std::filesystem::path& path) : file_(path) {
  contents_ = parse_gguf(file_.data(), file_.size(), path.string());
}

const GgufValue* GgufFile::find(const std::string& key) const {
  const auto it = contents_.key_index.find(key);
  return it == contents_.key_index.end() ? nullptr : &contents_.metadata[it->second].second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw FormatError(cat(path().string(), ": GGUF metadata has no key ", key));
  return *v;
}

bool GgufFile::has_tensor(const std::string& name) const {
  return contents_.tensor_index.count(name) != 0;
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  const auto it = contents_.tensor_index.find(name);
  if (it == contents_.tensor_index.end()) {
    throw FormatError(cat(path().string(), ": GGUF has no tensor ", name));
  }
  return contents_.tensors[it->second];
}

const std::uint8_t* GgufFile::tensor_data(const std::string& name) const {
  return file_.data() + contents_.data_offset + tensor(name).offset;
}

std::vector<float> GgufFile::tensor_f32(const std::string& name) const {
  const GgufTensorInfo& t = tensor(name);
  std::vector<float> out(t.numel());
  ggml_decode(t.type, tensor_data(name), t.numel(), out.data());
  return out;
}

}  // namespace masque
