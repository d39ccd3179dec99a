// StageCache: content-addressed results of experiment stages (world, tokens,
// pretraining, post-training, measurements). A stage's key is a hash of
// everything that determines its output (its config, the keys of the stages
// it reads, the stage format version), so one pretraining serves every arm
// and recipe that asks for the same thing, and a changed knob can never reuse
// a stale result. Stages are built in a temporary sibling directory and
// renamed into place with a stage.json marker, so a killed run leaves either
// a complete stage or nothing (docs/experiments.md "Cache").
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "core/json_util.h"

namespace masque::experiment {

struct Stage {
  std::filesystem::path dir;
  std::string key;  // 16 hex digits
  bool cached = false;
  Json info;  // what the builder returned (stage.json "info")
};

class StageCache {
 public:
  explicit StageCache(std::filesystem::path root);
  const std::filesystem::path& root() const { return root_; }

  static std::string key_of(std::string_view kind, const Json& material);

  // The stage for (kind, material): reused when ROOT/<kind>-<key>/stage.json
  // exists, else built by `build(tmp_dir)`, whose returned JSON is stored as
  // the stage's info, and committed atomically.
  Stage get(std::string_view kind, const Json& material,
            const std::function<Json(const std::filesystem::path& dir)>& build);

 private:
  std::filesystem::path root_;
};

}  // namespace masque::experiment
