// Output guards (see output_guard.h). Paths are compared by file identity
// (std::filesystem::equivalent: device and inode) when both exist, and by
// their weakly canonical form otherwise, so "./a/../x.json" and a symlink to
// x.json both count as x.json.
#include "core/output_guard.h"

#include <string>

#include "core/error.h"

namespace masque {
namespace fs = std::filesystem;
namespace {

struct Marker {
  ArtifactKind kind;
  const char* file;
};

// A kind is recognized by any one of its markers. ModelDir needs both files
// (config.json alone is also a plain JSON name) and is checked separately.
constexpr Marker kMarkers[] = {
    {ArtifactKind::Shards, "meta.json"},        {ArtifactKind::World, "world.json"},
    {ArtifactKind::TrainRun, "run.json"},       {ArtifactKind::TrainRun, "checkpoints"},
    {ArtifactKind::TrainRun, "train.lock"},     {ArtifactKind::Experiment, "recipe.json"},
    {ArtifactKind::Experiment, "results.json"},
};

fs::path canonical_or_self(const fs::path& path) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(path, ec);
  return ec ? fs::absolute(path, ec).lexically_normal() : c;
}

// Whether `inner` lies inside directory `dir` (after canonicalization).
bool is_inside(const fs::path& inner, const fs::path& dir) {
  const fs::path a = canonical_or_self(inner), d = canonical_or_self(dir);
  auto it_a = a.begin();
  for (auto it_d = d.begin(); it_d != d.end(); ++it_d, ++it_a) {
    if (it_d->empty()) continue;  // a trailing separator
    if (it_a == a.end() || *it_a != *it_d) return false;
  }
  return true;
}

}  // namespace

std::string_view artifact_kind_name(ArtifactKind kind) {
  switch (kind) {
    case ArtifactKind::Shards:
      return "token shards (meta.json)";
    case ArtifactKind::World:
      return "a persona world (world.json)";
    case ArtifactKind::TrainRun:
      return "a training run (run.json, checkpoints/)";
    case ArtifactKind::Experiment:
      return "an experiment's output (recipe.json, results.json)";
    case ArtifactKind::ModelDir:
      return "a model (config.json, model.safetensors)";
  }
  return "?";
}

std::vector<ArtifactKind> artifact_kinds(const fs::path& dir) {
  std::vector<ArtifactKind> kinds;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return kinds;
  auto add = [&](ArtifactKind kind) {
    for (ArtifactKind k : kinds)
      if (k == kind) return;
    kinds.push_back(kind);
  };
  for (const Marker& m : kMarkers) {
    if (fs::exists(dir / m.file, ec)) add(m.kind);
  }
  if (fs::exists(dir / "config.json", ec) && fs::exists(dir / "model.safetensors", ec)) {
    add(ArtifactKind::ModelDir);
  }
  return kinds;
}

void check_output_kind(const fs::path& out, ArtifactKind kind, std::string_view flag) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) {
    throw InputError(cat(flag, " ", out.string(),
                         " exists and is not a directory (choose another output path)"));
  }
  for (ArtifactKind found : artifact_kinds(out)) {
    if (found == kind) continue;
    throw InputError(cat(flag, " ", out.string(), " holds ", artifact_kind_name(found), ", not ",
                         artifact_kind_name(kind),
                         "; writing there would destroy or mix with it (choose a new ", flag, ")"));
  }
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) {
    const bool same = fs::equivalent(a, b, ec);
    return !ec && same;
  }
  return canonical_or_self(a) == canonical_or_self(b);
}

void check_not_input(const fs::path& out, const std::vector<fs::path>& inputs,
                     std::string_view flag, bool replaces_dir) {
  for (const fs::path& input : inputs) {
    if (input.empty()) continue;  // an optional input not given
    if (same_file(out, input)) {
      throw InputError(cat(flag, " ", out.string(), " is also an input (", input.string(),
                           "); writing it would destroy that input (choose another ", flag, ")"));
    }
    // A directory output is replaced whole: an input inside it goes too.
    if (replaces_dir && is_inside(input, out)) {
      throw InputError(cat(flag, " ", out.string(), " contains the input ", input.string(),
                           "; writing there would destroy it (choose another ", flag, ")"));
    }
  }
}

}  // namespace masque
