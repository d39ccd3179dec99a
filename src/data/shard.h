// Token shards: the binary format training reads (docs/shards.md), a writer,
// a memory-mapped reader, and ShardSet, all shards of one split of a
// directory. Documents are concatenated, each starting with <|bos|>.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace masque {

// Writes one shard atomically (temp file, fsync, rename on finish()).
class ShardWriter {
 public:
  ShardWriter(const std::filesystem::path& path, std::uint32_t vocab_size,
              const std::string& tokenizer_fingerprint);
  ~ShardWriter();
  void append(const std::uint32_t* ids, std::size_t count);
  std::uint64_t num_tokens() const;
  void finish();  // header (count, checksum) written, file committed

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Validates magic, version, dtype, declared size vs file size and checksum on
// open (FormatError naming the file and the problem).
class ShardReader {
 public:
  explicit ShardReader(const std::filesystem::path& path);
  std::uint64_t num_tokens() const;
  std::uint32_t vocab_size() const;
  const std::string& tokenizer_fingerprint() const;
  std::uint32_t token_bytes() const;  // 2 (u16) or 4 (u32)
  // Copy tokens [offset, offset + count) widened to int32.
  void read(std::uint64_t offset, std::size_t count, std::int32_t* out) const;
  const std::filesystem::path& path() const;
  // FormatError naming the file and the fix unless the shard was written with
  // a tokenizer of this vocab size and fingerprint (Tokenizer::fingerprint()).
  void check_tokenizer(std::uint32_t vocab_size, const std::string& fingerprint) const;

 private:
  MappedFile file_;
  std::uint64_t num_tokens_ = 0;
  std::uint32_t vocab_size_ = 0;
  std::uint32_t token_bytes_ = 0;
  std::string fingerprint_;
  std::size_t data_offset_ = 0;
};

// All shards of a split ("train" or "val") in a directory written by
// `masque tokenize`, seen as one token stream. The shard list comes from the
// directory's meta.json (or, without one, the sorted <split>_*.bin files);
// InputError when the split has no shards.
class ShardSet {
 public:
  ShardSet(const std::filesystem::path& dir, const std::string& split);
  std::uint64_t num_tokens() const;
  std::uint32_t vocab_size() const;
  const std::string& tokenizer_fingerprint() const;
  // Copy global tokens [offset, offset + count); may span shard boundaries.
  void read(std::uint64_t offset, std::size_t count, std::int32_t* out) const;
  std::size_t num_shards() const;
  const ShardReader& shard(std::size_t index) const;
  // As ShardReader::check_tokenizer (all shards of a set share one tokenizer).
  void check_tokenizer(std::uint32_t vocab_size, const std::string& fingerprint) const;
  // True when `dir` holds at least one shard of `split` (e.g. an optional "val").
  static bool has_split(const std::filesystem::path& dir, const std::string& split);

 private:
  std::vector<ShardReader> shards_;
  std::vector<std::uint64_t> starts_;  // global offset of each shard
  std::uint64_t total_ = 0;
};

}  // namespace masque
