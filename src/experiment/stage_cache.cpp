// Content-addressed stage directories (see stage_cache.h).
#include "experiment/stage_cache.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"

namespace masque::experiment {
namespace fs = std::filesystem;

namespace {
// Bump when a stage's output format or meaning changes: old entries then
// simply stop matching.
constexpr int kStageFormat = 1;
}  // namespace

StageCache::StageCache(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec || !fs::is_directory(root_)) {
    throw InputError(cat("cannot use cache directory ", root_.string(), ": ",
                         ec ? ec.message() : "not a directory", " (choose another with --cache)"));
  }
}

std::string StageCache::key_of(std::string_view kind, const Json& material) {
  // nlohmann's objects keep keys sorted, so dump() is canonical.
  const std::string text =
      Json{{"kind", kind}, {"format", kStageFormat}, {"material", material}}.dump();
  return Hasher64().add(text).hex();
}

Stage StageCache::get(std::string_view kind, const Json& material,
                      const std::function<Json(const fs::path& dir)>& build) {
  Stage stage;
  stage.key = key_of(kind, material);
  stage.dir = root_ / cat(kind, "-", stage.key);
  const fs::path marker = stage.dir / "stage.json";
  if (fs::exists(marker)) {
    try {
      const Json recorded = read_json_file(marker);
      if (recorded.value("material", Json()) == material) {
        stage.cached = true;
        stage.info = recorded.value("info", Json::object());
        return stage;
      }
    } catch (const Error&) {
      // An unreadable marker is treated as absent and the stage rebuilt.
    }
  }
  AtomicDir dir(stage.dir);
  stage.info = build(dir.path());
  write_json_file(
      dir.path() / "stage.json",
      Json{{"kind", kind}, {"key", stage.key}, {"material", material}, {"info", stage.info}});
  dir.commit();
  return stage;
}

}  // namespace masque::experiment
