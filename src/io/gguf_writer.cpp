// GGUF writer: metadata in insertion order, tensor infos in insertion order,
// data offsets the running sum of sizes padded to general.alignment (what
// llama.cpp's loader checks), zero padding everywhere. The file is streamed
// into an AtomicFile, so a crash leaves the old file or the new one.
#include <algorithm>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/gguf.h"

namespace masque {
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
std::uint64_t pad_to(std::uint64_t n, std::uint64_t align) {
  return (n + align - 1) / align * align;
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty()) throw InputError("GGUF metadata key must not be empty");
  if (key == "general.alignment") {
    const std::uint64_t a = value.type() == GgufType::U32 ? value.as_u64(key) : 0;
    if (a == 0 || (a & (a - 1)) != 0) {
      throw InputError("general.alignment must be a u32 power of two (llama.cpp requires it)");
    }
  }
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

std::uint64_t GgufWriter::alignment() const {
  for (const auto& [k, v] : metadata_) {
    if (k == "general.alignment") return v.as_u64(k);
  }
  return kGgufDefaultAlignment;
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<std::uint64_t> dims,
                            std::string bytes) {
  if (name.empty() || name.size() >= 64) {
    // llama.cpp keeps names in a 64-byte buffer (GGML_MAX_NAME).
    throw InputError(cat("GGUF tensor name \"", name, "\" must be 1..63 bytes"));
  }
  if (dims.empty() || dims.size() > 4) {
    throw InputError(cat("GGUF tensor ", name, " has ", dims.size(), " dims (1..4 allowed)"));
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) throw InputError(cat("GGUF tensor ", name, " added twice"));
  }
  std::uint64_t rows = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
  const std::uint64_t expected = ggml_row_bytes(type, dims[0]) * rows;
  if (bytes.size() != expected) {
    throw InputError(cat("GGUF tensor ", name, ": ", bytes.size(), " bytes given, ",
                         ggml_type_name(type), " of these dims needs ", expected));
  }
  tensors_.push_back({name, type, std::move(dims), std::move(bytes)});
}

void GgufWriter::add_tensor_f32(const std::string& name, GgmlType type,
                                std::vector<std::uint64_t> dims, const float* data) {
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) n *= d;
  if (!dims.empty()) ggml_row_bytes(type, dims[0]);  // row geometry error names the row
  std::string bytes;
  try {
    bytes = ggml_encode(type, data, n);
  } catch (const InputError& e) {
    throw InputError(cat("GGUF tensor ", name, ": ", e.what()));
  }
  add_tensor(name, type, std::move(dims), std::move(bytes));
}

std::string GgufWriter::header() const {
  const std::uint64_t align = alignment();
  std::string out = "GGUF";
  put_u32(out, kGgufVersion);
  put_u64(out, tensors_.size());
  put_u64(out, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    put_string(out, key);
    put_u32(out, static_cast<std::uint32_t>(value.type()));
    value.append_to(out);
  }
  std::uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put_u32(out, static_cast<std::uint32_t>(t.dims.size()));
    for (std::uint64_t d : t.dims) put_u64(out, d);
    put_u32(out, static_cast<std::uint32_t>(t.type));
    put_u64(out, offset);
    offset += pad_to(t.bytes.size(), align);
  }
  out.resize(pad_to(out.size(), align), '\0');
  return out;
}

std::string GgufWriter::serialize() const {
  const std::uint64_t align = alignment();
  std::string out = header();
  for (const Tensor& t : tensors_) {
    out.append(t.bytes);
    out.resize(pad_to(out.size(), align), '\0');
  }
  return out;
}

void GgufWriter::write(const std::filesystem::path& path) const {
  const std::uint64_t align = alignment();
  AtomicFile file(path);
  file.write(header());
  const std::string zeros(align, '\0');
  for (const Tensor& t : tensors_) {
    file.write(t.bytes.data(), t.bytes.size());
    const std::uint64_t pad = pad_to(t.bytes.size(), align) - t.bytes.size();
    file.write(zeros.data(), pad);
  }
  file.commit();
}

void write_gguf_f32(const std::filesystem::path& path,
                    const std::vector<std::pair<std::string, GgufValue>>& metadata,
                    const std::vector<GgufF32Tensor>& tensors) {
  GgufWriter writer;
  for (const auto& [key, value] : metadata) writer.set(key, value);
  for (const GgufF32Tensor& t : tensors) {
    std::vector<std::uint64_t> dims = t.dims;
    if (dims.empty()) dims = {t.data.size()};
    std::uint64_t n = 1;
    for (std::uint64_t d : dims) n *= d;
    if (n != t.data.size()) {
      throw InputError(
          cat("GGUF tensor ", t.name, " has ", t.data.size(), " floats but its dims hold ", n));
    }
    writer.add_tensor_f32(t.name, GgmlType::F32, std::move(dims), t.data.data());
  }
  writer.write(path);
}

}  // namespace masque
