// AtomicDir crash safety (issue 16, item 6): a child process builds a
// replacement directory and is killed with SIGKILL right after each step of
// commit(); the final name must then hold the old or the new directory,
// complete, and the next AtomicDir for that name must recover leftovers
// (restore a moved-aside old directory, remove temporaries of dead processes).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("masque_atomic_dir_" + name + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_dir(const fs::path& final_dir, const std::string& content) {
  AtomicDir dir(final_dir);
  write_file_atomic(dir.path() / "a.txt", content);
  write_file_atomic(dir.path() / "b.txt", content + content);
  dir.commit();
}

// Entries of `parent` other than the final directory (temporaries, asides).
std::vector<std::string> leftovers(const fs::path& parent, const std::string& keep) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(parent)) {
    if (e.path().filename() != keep) names.push_back(e.path().filename().string());
  }
  return names;
}

const char* g_kill_at = nullptr;

void kill_at(const char* step) {
  if (g_kill_at && std::strcmp(step, g_kill_at) == 0) ::raise(SIGKILL);
}

// pid of a process that has exited (and been reaped).
pid_t dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

class AtomicDirCrash : public ::testing::TestWithParam<std::tuple<bool, const char*>> {};

TEST_P(AtomicDirCrash, KillAfterAnyStepLeavesOldOrNewAndNextRunRecovers) {
  const auto [no_exchange, step] = GetParam();
  const fs::path parent = fresh_dir(cat(no_exchange ? "fallback_" : "exchange_", step));
  const fs::path final_dir = parent / "ckpt";
  write_dir(final_dir, "old");

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    atomic_dir_test::no_exchange = no_exchange;
    atomic_dir_test::after_step = kill_at;
    g_kill_at = step;
    write_dir(final_dir, "new");
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  // Steps of the other mode never happen: the child then finishes.
  const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  ASSERT_TRUE(killed || (WIFEXITED(status) && WEXITSTATUS(status) == 0));

  // The next run's AtomicDir recovers before anything else.
  { AtomicDir next(final_dir); }
  ASSERT_TRUE(fs::is_directory(final_dir)) << "neither the old nor the new directory after a kill";
  const std::string a = read_file(final_dir / "a.txt");
  EXPECT_TRUE(a == "old" || a == "new") << a;
  EXPECT_EQ(read_file(final_dir / "b.txt"), a + a);
  if (!killed) {
    EXPECT_EQ(a, "new");
  }
  EXPECT_TRUE(leftovers(parent, "ckpt").empty())
      << "leftover " << leftovers(parent, "ckpt").front();
  fs::remove_all(parent);
}

INSTANTIATE_TEST_SUITE_P(Steps, AtomicDirCrash,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values("synced", "exchanged", "moved_aside",
                                                              "renamed")));

TEST(AtomicDir, FallbackReplacesWhole) {
  const fs::path parent = fresh_dir("fallback_whole");
  atomic_dir_test::no_exchange = true;
  write_dir(parent / "d", "1");
  write_dir(parent / "d", "2");
  atomic_dir_test::no_exchange = false;
  EXPECT_EQ(read_file(parent / "d" / "a.txt"), "2");
  EXPECT_TRUE(leftovers(parent, "d").empty());
  fs::remove_all(parent);
}

TEST(AtomicDir, RemovesTemporariesOfDeadProcessesOnly) {
  const fs::path parent = fresh_dir("stale");
  const pid_t dead = dead_pid();
  const pid_t alive = ::getppid();  // the test runner's parent outlives this test
  const fs::path stale = parent / cat(".out.tmp-", dead, "-0");
  const fs::path live = parent / cat(".out.tmp-", alive, "-0");
  const fs::path other = parent / cat(".another.tmp-", dead, "-0");
  for (const auto& d : {stale, live, other}) fs::create_directories(d / "sub");
  write_dir(parent / "out", "x");
  EXPECT_FALSE(fs::exists(stale)) << "temporary of a dead process kept";
  EXPECT_TRUE(fs::exists(live)) << "temporary of a live process removed";
  EXPECT_TRUE(fs::exists(other)) << "temporary of another directory removed";
  fs::remove_all(parent);
}

TEST(AtomicDir, RestoresMovedAsideDirectoryWhenFinalIsMissing) {
  // What a kill between the fallback's two renames leaves: no final
  // directory, the old one aside, the new one complete under its temp name.
  const fs::path parent = fresh_dir("restore");
  const pid_t dead = dead_pid();
  write_dir(parent / "out", "old");
  fs::rename(parent / "out", parent / cat(".out.old-", dead, "-1"));
  fs::create_directories(parent / cat(".out.tmp-", dead, "-0"));
  { AtomicDir next(parent / "out"); }
  ASSERT_TRUE(fs::is_directory(parent / "out"));
  EXPECT_EQ(read_file(parent / "out" / "a.txt"), "old");
  EXPECT_TRUE(leftovers(parent, "out").empty());
  fs::remove_all(parent);
}
