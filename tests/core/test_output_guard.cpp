// Output guards (issue 16, item 8): the same file through another path or a
// link counts as the input; a directory replaced whole may not hold an
// input; an output directory may not hold another kind of artifact.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/output_guard.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {
fs::path fresh(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / cat("masque_guard_", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}
}  // namespace

TEST(OutputGuard, SameFileThroughOtherPathsAndLinks) {
  const fs::path dir = fresh("same");
  write_file_atomic(dir / "corpus.jsonl", "{}\n");
  fs::create_symlink(dir / "corpus.jsonl", dir / "link.jsonl");
  const std::vector<fs::path> inputs = {dir / "corpus.jsonl"};
  EXPECT_THROW(check_not_input(dir / "corpus.jsonl", inputs, "--out"), InputError);
  EXPECT_THROW(check_not_input(dir / "sub" / ".." / "corpus.jsonl", inputs, "--out"), InputError);
  EXPECT_THROW(check_not_input(dir / "link.jsonl", inputs, "--out"), InputError);
  EXPECT_NO_THROW(check_not_input(dir / "tok.json", inputs, "--out"));
  fs::remove_all(dir);
}

TEST(OutputGuard, ReplacedDirectoryMayNotHoldAnInput) {
  const fs::path dir = fresh("inside");
  fs::create_directories(dir / "D");
  write_file_atomic(dir / "D" / "corpus.jsonl", "{}\n");
  const std::vector<fs::path> inputs = {dir / "D" / "corpus.jsonl"};
  EXPECT_THROW(check_not_input(dir / "D", inputs, "--out", /*replaces_dir=*/true), InputError);
  EXPECT_NO_THROW(check_not_input(dir / "D", inputs, "--out", /*replaces_dir=*/false));
  EXPECT_NO_THROW(check_not_input(dir / "E", inputs, "--out", /*replaces_dir=*/true));
  // "D2" shares a prefix with "D" but is another directory.
  EXPECT_NO_THROW(check_not_input(dir / "D2", {dir / "D2x" / "a"}, "--out", true));
  fs::remove_all(dir);
}

TEST(OutputGuard, ArtifactKinds) {
  const fs::path dir = fresh("kinds");
  fs::create_directories(dir / "shards");
  write_file_atomic(dir / "shards" / "meta.json", "{}");
  fs::create_directories(dir / "run" / "checkpoints");
  EXPECT_NO_THROW(check_output_kind(dir / "shards", ArtifactKind::Shards, "--out"));
  EXPECT_NO_THROW(check_output_kind(dir / "new", ArtifactKind::Shards, "--out"));
  EXPECT_THROW(check_output_kind(dir / "shards", ArtifactKind::TrainRun, "--out"), InputError);
  EXPECT_THROW(check_output_kind(dir / "run", ArtifactKind::Shards, "--out"), InputError);
  EXPECT_THROW(check_output_kind(dir / "run", ArtifactKind::World, "--out"), InputError);
  EXPECT_THROW(check_output_kind(dir / "shards" / "meta.json", ArtifactKind::Shards, "--out"),
               InputError);
  // A run directory that also holds shards is both: refused for either.
  write_file_atomic(dir / "run" / "meta.json", "{}");
  EXPECT_THROW(check_output_kind(dir / "run", ArtifactKind::TrainRun, "--out"), InputError);
  fs::remove_all(dir);
}
