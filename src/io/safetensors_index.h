// A model's weights as one safetensors file or as the shards that
// transformers' save_pretrained writes past max_shard_size:
// model.safetensors.index.json {"metadata": {...}, "weight_map": {tensor:
// file}} beside model-0000i-of-0000n.safetensors. Read strictly: every shard
// named must be a plain file name in the directory and validate, every
// tensor listed must be in its shard, and every tensor in a shard must be
// listed (a tensor the index does not know would otherwise go unnoticed).
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace masque {

class SafetensorsSet {
 public:
  // One file.
  explicit SafetensorsSet(const std::filesystem::path& file);
  // dir/model.safetensors when present, else the shards of
  // dir/model.safetensors.index.json; FormatError when neither is there.
  static SafetensorsSet open_dir(const std::filesystem::path& dir);

  // What the set was read from (a file or an index), for messages.
  const std::filesystem::path& source() const { return source_; }
  bool contains(const std::string& name) const { return owner_.count(name) > 0; }
  std::vector<std::string> names() const;  // sorted
  const TensorInfo& info(const std::string& name) const;
  // The tensor as float32 (F32, F16, BF16 or F64 on disk), exactly numel floats.
  void read_f32(const std::string& name, float* out, std::size_t numel) const;

 private:
  SafetensorsSet() = default;
  const SafetensorsFile& file_of(const std::string& name) const;
  std::filesystem::path source_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::size_t> owner_;  // tensor -> index into files_
};

}  // namespace masque
