// safetensors writer and strict reader. Validation mirrors the reference
// Rust reader (safetensors/src/tensor.rs, read_metadata + Metadata::validate)
// check for check, so masque never accepts a file transformers refuses and
// never trips over one it accepts. Every check runs before any tensor byte is
// touched, so a hostile file can only produce a FormatError.
#include "io/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <set>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"

namespace masque {
namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeRow, 13> kDTypes{{{DType::BOOL, "BOOL", 1},
                                            {DType::U8, "U8", 1},
                                            {DType::I8, "I8", 1},
                                            {DType::U16, "U16", 2},
                                            {DType::I16, "I16", 2},
                                            {DType::F16, "F16", 2},
                                            {DType::BF16, "BF16", 2},
                                            {DType::U32, "U32", 4},
                                            {DType::I32, "I32", 4},
                                            {DType::F32, "F32", 4},
                                            {DType::U64, "U64", 8},
                                            {DType::I64, "I64", 8},
                                            {DType::F64, "F64", 8}}};

bool valid_utf8(const std::uint8_t* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = s[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and out-of-range code points are invalid UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::uint64_t checked_numel(const std::vector<std::int64_t>& shape, bool* overflow) {
  std::uint64_t n = 1;
  *overflow = false;
  for (std::int64_t d : shape) {
    const auto du = static_cast<std::uint64_t>(d);
    if (du != 0 && n > std::numeric_limits<std::uint64_t>::max() / du) {
      *overflow = true;
      return 0;
    }
    n *= du;
  }
  return n;
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  for (const auto& row : kDTypes) {
    if (row.dtype == dtype) return row.size;
  }
  return 0;
}

std::string_view dtype_name(DType dtype) {
  for (const auto& row : kDTypes) {
    if (row.dtype == dtype) return row.name;
  }
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& row : kDTypes) {
    if (row.name == name) return row.dtype;
  }
  return std::nullopt;
}

std::uint64_t TensorInfo::numel() const {
  bool overflow = false;
  return checked_numel(shape, &overflow);
}

// ---------------------------------------------------------------- writer

void SafetensorsWriter::add(const std::string& name, DType dtype,
                            const std::vector<std::int64_t>& shape, const void* data,
                            std::size_t bytes) {
  if (name.empty() || name == "__metadata__") {
    throw InputError(cat("safetensors: invalid tensor name '", name, "'"));
  }
  for (std::int64_t d : shape) {
    if (d < 0) throw InputError(cat("safetensors: tensor '", name, "' has a negative dimension"));
  }
  bool overflow = false;
  const std::uint64_t numel = checked_numel(shape, &overflow);
  if (overflow || numel * dtype_size(dtype) != bytes) {
    throw InputError(cat("safetensors: tensor '", name, "' has ", bytes,
                         " bytes but its shape and ", dtype_name(dtype), " need ",
                         numel * dtype_size(dtype)));
  }
  Entry entry{dtype, shape, std::string(static_cast<const char*>(data), bytes)};
  tensors_[name] = std::move(entry);
}

void SafetensorsWriter::add_f32(const std::string& name, const std::vector<std::int64_t>& shape,
                                const float* data) {
  bool overflow = false;
  const std::uint64_t numel = checked_numel(shape, &overflow);
  add(name, DType::F32, shape, data, numel * sizeof(float));
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

std::string SafetensorsWriter::serialize() const {
  Json header = Json::object();
  Json meta = Json::object();
  for (const auto& [key, value] : metadata_) meta[key] = value;
  meta["format"] = "pt";
  header["__metadata__"] = meta;
  std::uint64_t offset = 0;
  for (const auto& [name, entry] : tensors_) {
    const std::uint64_t end = offset + entry.bytes.size();
    header[name] = {{"dtype", std::string(dtype_name(entry.dtype))},
                    {"shape", entry.shape},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  // The reference writer pads with spaces so the buffer starts 8-aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  for (int byte = 0; byte < 8; ++byte) out.push_back(static_cast<char>((n >> (8 * byte)) & 0xFF));
  out += text;
  for (const auto& [name, entry] : tensors_) out += entry.bytes;
  return out;
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  AtomicFile file(path);
  const std::string bytes = serialize();
  file.write(bytes);
  file.commit();
}

// ---------------------------------------------------------------- reader

void SafetensorsFile::validate_bytes(const std::uint8_t* data, std::size_t size,
                                     std::string_view where, std::vector<TensorInfo>* tensors_out,
                                     std::map<std::string, std::string>* metadata_out) {
  const auto fail = [&](auto&&... parts) {
    return FormatError(cat(where, ": not a valid safetensors file: ", parts...,
                           " (re-save it with safetensors/transformers or re-run the step "
                           "that wrote it)"));
  };
  if (size < 8) throw fail("file is ", size, " bytes, shorter than the 8-byte header length");
  std::uint64_t n = 0;
  for (int byte = 7; byte >= 0; --byte) n = (n << 8) | data[byte];
  if (n > kSafetensorsMaxHeader) {
    throw fail("header length ", n, " exceeds the limit of ", kSafetensorsMaxHeader, " bytes");
  }
  if (n + 8 > size) {
    throw fail("header length ", n, " runs past the end of the ", size, "-byte file (truncated?)");
  }
  const std::uint8_t* text = data + 8;
  if (!valid_utf8(text, n)) throw fail("header is not valid UTF-8");
  if (n == 0 || text[0] != '{') throw fail("header does not start with '{'");
  // nlohmann keeps the last of duplicate keys; the reference reader (serde)
  // rejects them, so a tensor or __metadata__ given twice is an error here.
  std::vector<std::set<std::string>> keys_in_open_objects;
  std::string duplicate;
  const Json::parser_callback_t track_keys = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      keys_in_open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      keys_in_open_objects.pop_back();
    } else if (event == Json::parse_event_t::key && duplicate.empty() &&
               !keys_in_open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, text + n, track_keys);
  } catch (const Json::exception& e) {
    throw fail("header is not valid JSON (", e.what(), ")");
  }
  if (!duplicate.empty()) throw fail("header has the key '", duplicate, "' twice");
  if (!header.is_object()) throw fail("header is not a JSON object");

  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const Json& value = it.value();
    if (name == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object()) throw fail("__metadata__ is not an object of strings");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string()) {
          throw fail("__metadata__ value for '", m.key(), "' is not a string");
        }
        metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) throw fail("entry '", name, "' is not an object");
    const auto dtype_it = value.find("dtype");
    const auto shape_it = value.find("shape");
    const auto offsets_it = value.find("data_offsets");
    if (dtype_it == value.end() || shape_it == value.end() || offsets_it == value.end()) {
      throw fail("tensor '", name, "' lacks dtype, shape or data_offsets");
    }
    TensorInfo info;
    info.name = name;
    if (!dtype_it->is_string()) throw fail("tensor '", name, "' has a non-string dtype");
    const auto dtype = dtype_from_name(dtype_it->get<std::string>());
    if (!dtype) throw fail("tensor '", name, "' has unknown dtype ", dtype_it->dump());
    info.dtype = *dtype;
    if (!shape_it->is_array()) throw fail("tensor '", name, "' shape is not an array");
    for (const Json& d : *shape_it) {
      if (!d.is_number_unsigned() ||
          d.get<std::uint64_t>() >
              static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw fail("tensor '", name, "' shape has a non-integer or negative dimension ", d.dump());
      }
      info.shape.push_back(static_cast<std::int64_t>(d.get<std::uint64_t>()));
    }
    if (!offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
      throw fail("tensor '", name, "' data_offsets is not [begin, end] of unsigned integers");
    }
    info.begin = (*offsets_it)[0].get<std::uint64_t>();
    info.end = (*offsets_it)[1].get<std::uint64_t>();
    tensors.push_back(std::move(info));
  }

  // Metadata::validate: in offset order, each tensor starts where the last
  // ended (no gap, no overlap) and spans exactly numel * dtype size bytes.
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t start = 0;
  for (const TensorInfo& t : tensors) {
    if (t.begin != start || t.end < t.begin) {
      throw fail("tensor '", t.name, "' has data_offsets [", t.begin, ", ", t.end,
                 "] but the previous tensor ended at ", start, " (gap or overlap)");
    }
    start = t.end;
    bool overflow = false;
    const std::uint64_t numel = checked_numel(t.shape, &overflow);
    const std::uint64_t elem = dtype_size(t.dtype);
    if (overflow || (numel != 0 && elem > std::numeric_limits<std::uint64_t>::max() / numel)) {
      throw fail("tensor '", t.name, "' shape overflows");
    }
    if (t.end - t.begin != numel * elem) {
      throw fail("tensor '", t.name, "' spans ", t.end - t.begin, " bytes but shape and dtype ",
                 dtype_name(t.dtype), " need ", numel * elem);
    }
  }
  const std::uint64_t buffer_size = size - 8 - n;
  if (start != buffer_size) {
    throw fail("data buffer is ", buffer_size, " bytes but the tensors cover ", start,
               start > buffer_size ? " (truncated file)" : " (trailing bytes)");
  }
  if (tensors_out) *tensors_out = std::move(tensors);
  if (metadata_out) *metadata_out = std::move(metadata);
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  validate_bytes(file_.data(), file_.size(), path.string(), &tensors_, &metadata_);
  std::uint64_t n = 0;
  for (int byte = 7; byte >= 0; --byte) n = (n << 8) | file_.data()[byte];
  buffer_offset_ = static_cast<std::size_t>(8 + n);
  for (std::size_t i = 0; i < tensors_.size(); ++i) by_name_[tensors_[i].name] = i;
}

bool SafetensorsFile::contains(const std::string& name) const { return by_name_.count(name) > 0; }

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    throw FormatError(cat(path().string(), ": no tensor named '", name, "'"));
  }
  return tensors_[it->second];
}

const std::uint8_t* SafetensorsFile::data(const std::string& name) const {
  return file_.data() + buffer_offset_ + info(name).begin;
}

void SafetensorsFile::read_f32(const std::string& name, float* out, std::size_t numel) const {
  const TensorInfo& t = info(name);
  if (t.numel() != numel) {
    throw FormatError(cat(path().string(), ": tensor '", name, "' has ", t.numel(),
                          " elements, expected ", numel));
  }
  const std::uint8_t* src = data(name);
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, src, numel * sizeof(float));
      break;
    case DType::F64:
      for (std::size_t i = 0; i < numel; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      break;
    case DType::BF16:
    case DType::F16:
      for (std::size_t i = 0; i < numel; ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        out[i] = t.dtype == DType::BF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
      }
      break;
    default:
      throw FormatError(cat(path().string(), ": tensor '", name, "' has dtype ",
                            dtype_name(t.dtype), ", expected a float type (F32, F16, BF16, F64)"));
  }
}

std::vector<float> SafetensorsFile::to_f32(const std::string& name,
                                           const std::vector<std::int64_t>* expected_shape) const {
  const TensorInfo& t = info(name);
  if (expected_shape && t.shape != *expected_shape) {
    const auto show = [](const std::vector<std::int64_t>& s) { return Json(s).dump(); };
    throw FormatError(cat(path().string(), ": tensor '", name, "' has shape ", show(t.shape),
                          ", expected ", show(*expected_shape)));
  }
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  read_f32(name, out.data(), out.size());
  return out;
}

// ---------------------------------------------------------------- half floats

float bf16_to_f32(std::uint16_t bits) {
  const std::uint32_t word = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &word, 4);
  return f;
}

std::uint16_t f32_to_bf16(float value) {
  std::uint32_t word;
  std::memcpy(&word, &value, 4);
  if ((word & 0x7F800000u) == 0x7F800000u && (word & 0x007FFFFFu) != 0) {
    return static_cast<std::uint16_t>((word >> 16) | 0x40);  // keep NaN a NaN
  }
  const std::uint32_t rounding = 0x7FFFu + ((word >> 16) & 1u);
  return static_cast<std::uint16_t>((word + rounding) >> 16);
}

float f16_to_f32(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  std::uint32_t exponent = (bits >> 10) & 0x1Fu;
  std::uint32_t mantissa = bits & 0x3FFu;
  std::uint32_t word;
  if (exponent == 0x1F) {
    word = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent == 0) {
    if (mantissa == 0) {
      word = sign;
    } else {  // subnormal: normalise
      int shift = 0;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3FFu;
      word = sign | (static_cast<std::uint32_t>(127 - 15 - shift + 1) << 23) | (mantissa << 13);
    }
  } else {
    word = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &word, 4);
  return f;
}

}  // namespace masque
