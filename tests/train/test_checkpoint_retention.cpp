// --keep counts only complete checkpoints (issue 16, item 10): with --keep 2
// and the steps 5 (good), 4 (broken), 3 (good), step 3 stays and step 4 goes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "train/checkpoint_retention.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {
fs::path make_run(const std::string& name, std::initializer_list<int> steps) {
  const fs::path run = fs::temp_directory_path() / cat("masque_keep_", name, ::getpid());
  fs::remove_all(run);
  for (int step : steps) {
    fs::create_directories(run / "checkpoints" / cat("step-", step));
    write_file_atomic(run / "checkpoints" / cat("step-", step) / "trainer_state.json", "{}");
  }
  return run;
}
std::set<std::string> remaining(const fs::path& run) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    names.insert(e.path().filename().string());
  return names;
}
// "Broken" = holds a file named BROKEN.
bool good(const fs::path& dir, std::string* why) {
  if (!fs::exists(dir / "BROKEN")) return true;
  *why = "marked broken by the test";
  return false;
}
}  // namespace

TEST(CheckpointRetention, BrokenCheckpointDoesNotCountTowardKeep) {
  const fs::path run = make_run("broken", {3, 4, 5});
  write_file_atomic(run / "checkpoints" / "step-4" / "BROKEN", "");
  prune_checkpoints(run, 2, good);
  EXPECT_EQ(remaining(run), (std::set<std::string>{"step-3", "step-5"}));
  fs::remove_all(run);
}

TEST(CheckpointRetention, KeepsNewestGoodOnes) {
  const fs::path run = make_run("plain", {1, 2, 3, 4});
  prune_checkpoints(run, 2, good);
  EXPECT_EQ(remaining(run), (std::set<std::string>{"step-3", "step-4"}));
  prune_checkpoints(run, 0, good);  // --keep is at least 1
  EXPECT_EQ(remaining(run), (std::set<std::string>{"step-4"}));
  fs::remove_all(run);
}
