// Token shard format (docs/shards.md): a 64-byte little-endian header, then the
// tokens as u16 or u32. The writer streams tokens through an AtomicFile and
// patches the header (count, CRC-32) just before committing; the reader maps
// the file and checks every header field before any token is read.
#include "data/shard.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/json_util.h"

namespace masque {
namespace {

constexpr char kMagic[8] = {'M', 'A', 'S', 'Q', 'S', 'H', 'R', 'D'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 64;
constexpr std::size_t kFingerprintBytes = 24;

struct Header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t header_bytes;
  std::uint32_t token_bytes;
  std::uint32_t vocab_size;
  std::uint64_t num_tokens;
  std::uint32_t payload_crc32;
  std::uint32_t reserved;
  char fingerprint[kFingerprintBytes];
};
static_assert(sizeof(Header) == kHeaderBytes, "shard header must be 64 bytes");

std::uint32_t dtype_bytes(std::uint32_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

const char* kRetokenize = "re-create it with `masque tokenize`";

}  // namespace

struct ShardWriter::Impl {
  std::filesystem::path path;
  AtomicFile file;
  Header header{};
  std::uint32_t crc = 0;
  std::vector<unsigned char> buffer;
  bool finished = false;

  explicit Impl(const std::filesystem::path& p) : path(p), file(p) {}

  void flush() {
    if (buffer.empty()) return;
    crc = crc32(buffer.data(), buffer.size(), crc);
    file.write(buffer.data(), buffer.size());
    buffer.clear();
  }
};

ShardWriter::ShardWriter(const std::filesystem::path& path, std::uint32_t vocab_size,
                         const std::string& tokenizer_fingerprint) {
  if (vocab_size == 0) throw InputError(cat("shard ", path, ": vocab size must be positive"));
  if (tokenizer_fingerprint.size() > kFingerprintBytes) {
    throw InputError(cat("shard ", path, ": tokenizer fingerprint '", tokenizer_fingerprint,
                         "' is longer than ", kFingerprintBytes, " bytes"));
  }
  impl_ = std::make_unique<Impl>(path);
  Header& h = impl_->header;
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kVersion;
  h.header_bytes = kHeaderBytes;
  h.token_bytes = dtype_bytes(vocab_size);
  h.vocab_size = vocab_size;
  std::memcpy(h.fingerprint, tokenizer_fingerprint.data(), tokenizer_fingerprint.size());
  // Placeholder header; the real one is written in finish().
  impl_->file.write(&h, sizeof(h));
  impl_->buffer.reserve(1 << 20);
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::append(const std::uint32_t* ids, std::size_t count) {
  Impl& s = *impl_;
  if (s.finished) throw Error(cat("shard ", s.path, " is already finished"));
  const std::uint32_t width = s.header.token_bytes;
  for (std::size_t i = 0; i < count; ++i) {
    if (ids[i] >= s.header.vocab_size) {
      throw InputError(cat("token id ", ids[i], " does not fit shard ", s.path, " (vocab size ",
                           s.header.vocab_size, ")"));
    }
  }
  std::size_t old = s.buffer.size();
  s.buffer.resize(old + count * width);
  unsigned char* out = s.buffer.data() + old;
  if (width == 2) {
    for (std::size_t i = 0; i < count; ++i) {
      auto v = static_cast<std::uint16_t>(ids[i]);
      std::memcpy(out + 2 * i, &v, 2);
    }
  } else {
    std::memcpy(out, ids, count * 4);
  }
  s.header.num_tokens += count;
  if (s.buffer.size() >= (1 << 20)) s.flush();
}

std::uint64_t ShardWriter::num_tokens() const { return impl_->header.num_tokens; }

void ShardWriter::finish() {
  Impl& s = *impl_;
  if (s.finished) return;
  s.flush();
  s.header.payload_crc32 = s.crc;
  // AtomicFile only appends, so the final header goes in through a second
  // descriptor on the same temporary file before it is fsynced and renamed.
  int fd = ::open(s.file.temp_path().c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw Error(cat("cannot reopen ", s.file.temp_path(), ": ", std::strerror(errno)));
  ssize_t n = ::pwrite(fd, &s.header, sizeof(s.header), 0);
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof(s.header))) {
    throw Error(cat("cannot write the header of ", s.path, ": ", std::strerror(err),
                    " (is the disk full?)"));
  }
  s.file.commit();
  s.finished = true;
}

ShardReader::ShardReader(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw FormatError(cat("shard ", path, " does not exist (", kRetokenize, ")"));
  }
  file_ = MappedFile(path);
  auto bad = [&](const std::string& what) {
    return FormatError(cat("shard ", path, ": ", what, " (", kRetokenize, ")"));
  };
  if (file_.size() < kHeaderBytes) {
    throw bad(cat("file is ", file_.size(), " bytes, shorter than the ", kHeaderBytes,
                  "-byte header: truncated or not a shard"));
  }
  Header h;
  std::memcpy(&h, file_.data(), sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) {
    throw bad("wrong magic (expected \"MASQSHRD\"): not a masque token shard");
  }
  if (h.version != kVersion) {
    throw bad(cat("format version ", h.version, " is not supported (this masque reads version ",
                  kVersion, ")"));
  }
  if (h.header_bytes != kHeaderBytes)
    throw bad(cat("header size ", h.header_bytes, " != ", kHeaderBytes));
  if (h.vocab_size == 0) throw bad("vocab size is 0");
  if (h.token_bytes != dtype_bytes(h.vocab_size)) {
    throw bad(
        cat("token width ", h.token_bytes, " bytes does not match vocab size ", h.vocab_size));
  }
  const std::uint64_t payload = file_.size() - kHeaderBytes;
  if (h.num_tokens > payload / h.token_bytes || payload != h.num_tokens * h.token_bytes) {
    throw bad(cat("header declares ", h.num_tokens, " tokens (", h.num_tokens * h.token_bytes,
                  " bytes) but the file holds ", payload, " payload bytes: truncated or corrupt"));
  }
  std::uint32_t crc = crc32(file_.data() + kHeaderBytes, payload);
  if (crc != h.payload_crc32) {
    throw bad(cat("payload checksum mismatch (CRC-32 ", crc, ", header says ", h.payload_crc32,
                  "): corrupt"));
  }
  num_tokens_ = h.num_tokens;
  vocab_size_ = h.vocab_size;
  token_bytes_ = h.token_bytes;
  fingerprint_.assign(h.fingerprint, strnlen(h.fingerprint, kFingerprintBytes));
  data_offset_ = kHeaderBytes;
}

std::uint64_t ShardReader::num_tokens() const { return num_tokens_; }
std::uint32_t ShardReader::vocab_size() const { return vocab_size_; }
const std::string& ShardReader::tokenizer_fingerprint() const { return fingerprint_; }
std::uint32_t ShardReader::token_bytes() const { return token_bytes_; }
const std::filesystem::path& ShardReader::path() const { return file_.path(); }

void ShardReader::read(std::uint64_t offset, std::size_t count, std::int32_t* out) const {
  if (offset > num_tokens_ || count > num_tokens_ - offset) {
    throw InputError(cat("read of tokens [", offset, ", ", offset + count,
                         ") is past the end of shard ", file_.path(), " (", num_tokens_,
                         " tokens)"));
  }
  const std::uint8_t* base = file_.data() + data_offset_ + offset * token_bytes_;
  if (token_bytes_ == 2) {
    for (std::size_t i = 0; i < count; ++i) {
      std::uint16_t v;
      std::memcpy(&v, base + 2 * i, 2);
      out[i] = v;
    }
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      std::uint32_t v;
      std::memcpy(&v, base + 4 * i, 4);
      out[i] = static_cast<std::int32_t>(v);
    }
  }
}

void ShardReader::check_tokenizer(std::uint32_t vocab_size, const std::string& fingerprint) const {
  if (vocab_size != vocab_size_ || (!fingerprint_.empty() && fingerprint != fingerprint_)) {
    throw FormatError(
        cat("shard ", file_.path(), " was made with a different tokenizer (vocab size ",
            vocab_size_, ", fingerprint ", fingerprint_, ") than the one given (vocab size ",
            vocab_size, ", fingerprint ", fingerprint,
            "): re-run `masque tokenize` with this tokenizer or pass the matching one"));
  }
}

namespace {
// A token count meta.json may list (absent in hand-written files).
std::optional<std::uint64_t> optional_count(const Json& object, const char* key,
                                            const std::string& where) {
  if (!object.is_object() || !object.contains(key)) return std::nullopt;
  return get_field<std::uint64_t>(object, key, where);
}
}  // namespace

ShardSet::ShardSet(const std::filesystem::path& dir, const std::string& split) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw InputError(cat("shard directory ", dir,
                         " does not exist (create it with `masque tokenize --out ", dir.string(),
                         "`)"));
  }
  std::vector<std::filesystem::path> files;
  std::vector<std::optional<std::uint64_t>> listed_tokens;  // per file, from meta.json
  std::optional<std::uint64_t> split_tokens;
  const std::filesystem::path meta_path = dir / "meta.json";
  if (std::filesystem::exists(meta_path, ec)) {
    Json meta = read_json_file(meta_path);
    std::string where = meta_path.string();
    if (!meta.contains(split) || !meta.at(split).is_object() ||
        !meta.at(split).contains("shards") || !meta.at(split).at("shards").is_array()) {
      throw FormatError(
          cat(where, ": no \"", split, "\" split with a \"shards\" list (", kRetokenize, ")"));
    }
    for (const Json& shard : meta.at(split).at("shards")) {
      const auto file = get_field<std::string>(shard, "file", where);
      // A name inside the directory: "../x.bin" or "/etc/x" would read
      // files masque did not write.
      if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
          file.find('\0') != std::string::npos) {
        throw FormatError(cat(where, ": shard file \"", file,
                              "\" is not a file name inside the directory (", kRetokenize, ")"));
      }
      files.push_back(dir / file);
      listed_tokens.push_back(optional_count(shard, "tokens", where));
    }
    split_tokens = optional_count(meta.at(split), "tokens", where);
  } else {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && name.rfind(split + "_", 0) == 0 &&
          entry.path().extension() == ".bin") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) {
    throw InputError(cat("no ", split, " shards in ", dir, " (re-run `masque tokenize`",
                         split == "val" ? " with --val-fraction > 0" : "", ")"));
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& file = files[i];
    ShardReader reader(file);
    if (i < listed_tokens.size() && listed_tokens[i] && *listed_tokens[i] != reader.num_tokens()) {
      throw FormatError(cat(meta_path.string(), ": lists ", *listed_tokens[i], " tokens for ",
                            file.filename().string(), ", which holds ", reader.num_tokens(), " (",
                            kRetokenize, ")"));
    }
    if (!shards_.empty()) {
      reader.check_tokenizer(shards_[0].vocab_size(), shards_[0].tokenizer_fingerprint());
    }
    starts_.push_back(total_);
    total_ += reader.num_tokens();
    shards_.push_back(std::move(reader));
  }
  if (split_tokens && *split_tokens != total_) {
    throw FormatError(cat(meta_path.string(), ": lists ", *split_tokens, " ", split,
                          " tokens, the shards hold ", total_, " (", kRetokenize, ")"));
  }
}

bool ShardSet::has_split(const std::filesystem::path& dir, const std::string& split) {
  try {
    ShardSet probe(dir, split);
    return true;
  } catch (const InputError&) {
    return false;
  }
}

std::uint64_t ShardSet::num_tokens() const { return total_; }
std::uint32_t ShardSet::vocab_size() const { return shards_.front().vocab_size(); }
const std::string& ShardSet::tokenizer_fingerprint() const {
  return shards_.front().tokenizer_fingerprint();
}
std::size_t ShardSet::num_shards() const { return shards_.size(); }
const ShardReader& ShardSet::shard(std::size_t index) const { return shards_.at(index); }

void ShardSet::check_tokenizer(std::uint32_t vocab_size, const std::string& fingerprint) const {
  shards_.front().check_tokenizer(vocab_size, fingerprint);
}

void ShardSet::read(std::uint64_t offset, std::size_t count, std::int32_t* out) const {
  if (offset > total_ || count > total_ - offset) {
    throw InputError(cat("read of tokens [", offset, ", ", offset + count,
                         ") is past the end of the shard set (", total_, " tokens)"));
  }
  // Last shard starting at or before offset.
  std::size_t idx = std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin() - 1;
  while (count > 0) {
    const ShardReader& shard = shards_[idx];
    std::uint64_t local = offset - starts_[idx];
    std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(count, shard.num_tokens() - local));
    shard.read(local, take, out);
    out += take;
    offset += take;
    count -= take;
    ++idx;
  }
}

}  // namespace masque
