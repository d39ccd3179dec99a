// Sharded safetensors (see safetensors_index.h).
#include "io/safetensors_index.h"

#include "core/error.h"
#include "core/json_util.h"

namespace masque {
namespace fs = std::filesystem;

SafetensorsSet::SafetensorsSet(const fs::path& file) : source_(file) {
  files_.push_back(std::make_unique<SafetensorsFile>(file));
  for (const TensorInfo& t : files_[0]->tensors()) owner_.emplace(t.name, 0);
}

SafetensorsSet SafetensorsSet::open_dir(const fs::path& dir) {
  const fs::path single = dir / "model.safetensors";
  if (fs::exists(single)) return SafetensorsSet(single);
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (!fs::exists(index_path)) {
    throw FormatError(cat(dir.string(),
                          " has neither model.safetensors nor model.safetensors.index.json (from "
                          "transformers, save with safe_serialization=True)"));
  }
  const std::string where = index_path.string();
  const Json index = read_json_file(index_path);
  reject_unknown_fields(index, {"metadata", "weight_map"}, where);
  if (!index.contains("weight_map") || !index.at("weight_map").is_object() ||
      index.at("weight_map").empty()) {
    throw FormatError(cat(where, ": 'weight_map' must be a non-empty object {tensor: shard file}"));
  }
  SafetensorsSet set;
  set.source_ = index_path;
  std::map<std::string, std::size_t> file_index;  // shard name -> files_ index
  for (const auto& [tensor, value] : index.at("weight_map").items()) {
    if (!value.is_string()) {
      throw FormatError(
          cat(where, ": weight_map['", tensor, "'] must be a file name, got ", value.dump()));
    }
    const std::string shard = value.get<std::string>();
    // A plain name in the same directory: no paths out of it.
    if (shard.empty() || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard == "." || shard == "..") {
      throw FormatError(cat(where, ": weight_map['", tensor, "'] = \"", shard,
                            "\" is not a file name in the model directory"));
    }
    auto [it, fresh] = file_index.emplace(shard, set.files_.size());
    if (fresh) {
      const fs::path shard_path = dir / shard;
      if (!fs::is_regular_file(shard_path)) {
        throw FormatError(cat(where, ": shard ", shard, " (holding '", tensor,
                              "') is missing from ", dir.string()));
      }
      set.files_.push_back(std::make_unique<SafetensorsFile>(shard_path));
    }
    if (!set.files_[it->second]->contains(tensor)) {
      throw FormatError(cat(where, ": tensor '", tensor, "' is listed in ", shard,
                            " but that file does not hold it (the shards and the index do not "
                            "belong together)"));
    }
    set.owner_.emplace(tensor, it->second);
  }
  for (const auto& [shard, i] : file_index) {
    for (const TensorInfo& t : set.files_[i]->tensors()) {
      auto owner = set.owner_.find(t.name);
      if (owner == set.owner_.end() || owner->second != i) {
        throw FormatError(cat(where, ": shard ", shard, " holds tensor '", t.name,
                              "' which the index does not list there (the shards and the index "
                              "do not belong together)"));
      }
    }
  }
  return set;
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  out.reserve(owner_.size());
  for (const auto& [name, file] : owner_) out.push_back(name);
  return out;
}

const SafetensorsFile& SafetensorsSet::file_of(const std::string& name) const {
  auto it = owner_.find(name);
  if (it == owner_.end()) {
    throw FormatError(cat(source_.string(), ": no tensor named '", name, "'"));
  }
  return *files_[it->second];
}

const TensorInfo& SafetensorsSet::info(const std::string& name) const {
  return file_of(name).info(name);
}

void SafetensorsSet::read_f32(const std::string& name, float* out, std::size_t numel) const {
  file_of(name).read_f32(name, out, numel);
}

}  // namespace masque
