// Implementation of AtomicFile / AtomicDir (see atomic_file.h for the
// contract).
#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace masque {
namespace {

std::atomic<unsigned> g_temp_counter{0};

std::string unique_suffix() { return cat(".tmp-", ::getpid(), "-", g_temp_counter.fetch_add(1)); }

fs::path temp_sibling(const fs::path &final_path) {
  fs::path dir = final_path.parent_path();
  if (dir.empty()) dir = ".";
  return dir / ("." + final_path.filename().string() + unique_suffix());
}

fs::path parent_of(const fs::path &path) {
  fs::path dir = path.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

void step_done(const char *step) {
  if (atomic_dir_test::after_step) atomic_dir_test::after_step(step);
}

// The pid in "<prefix><pid>-<n>", or 0 when `name` is not of that form.
pid_t pid_after_prefix(const std::string &name, const std::string &prefix) {
  if (name.rfind(prefix, 0) != 0) return 0;
  std::size_t i = prefix.size();
  long long pid = 0;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && pid < (1LL << 31); ++i) {
    pid = pid * 10 + (name[i] - '0');
  }
  if (i == prefix.size() || i >= name.size() || name[i] != '-') return 0;
  return static_cast<pid_t>(pid);
}

bool process_alive(pid_t pid) { return pid == ::getpid() || ::kill(pid, 0) == 0 || errno == EPERM; }

// Leftovers of AtomicDir commits for `final_dir` by processes that are gone
// (killed mid-build or mid-swap): temporaries ".NAME.tmp-PID-N" are removed;
// an old directory moved aside by the fallback swap (".NAME.old-PID-N") is
// renamed back when a kill left nothing at the final name, else removed.
// Temporaries of live processes (another run building the same name) stay.
void recover_leftovers(const fs::path &final_dir) {
  const fs::path parent = parent_of(final_dir);
  const std::string name = final_dir.filename().string();
  const std::string tmp_prefix = "." + name + ".tmp-";
  const std::string old_prefix = "." + name + ".old-";
  std::vector<fs::path> stale, asides;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(parent, ec)) {
    const std::string entry_name = entry.path().filename().string();
    if (const pid_t pid = pid_after_prefix(entry_name, tmp_prefix); pid > 0) {
      if (!process_alive(pid)) stale.push_back(entry.path());
    } else if (const pid_t old_pid = pid_after_prefix(entry_name, old_prefix); old_pid > 0) {
      if (!process_alive(old_pid)) asides.push_back(entry.path());
    }
  }
  if (stale.empty() && asides.empty()) return;
  std::sort(asides.begin(), asides.end());
  if (!asides.empty() && !fs::exists(final_dir, ec)) {
    fs::rename(asides.back(), final_dir, ec);
    if (ec) {
      throw Error(cat("cannot restore ", final_dir, " from ", asides.back(),
                      " (left by a killed run): ", ec.message(), "; rename it back by hand"));
    }
    asides.pop_back();
  }
  for (const auto &path : stale) fs::remove_all(path, ec);
  for (const auto &path : asides) fs::remove_all(path, ec);
  fsync_path(parent);
}

}  // namespace

void fsync_path(const fs::path &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(cat("cannot open ", path, " to sync it: ", std::strerror(errno)));
  if (::fsync(fd) != 0 && errno != EINVAL) {
    int err = errno;
    ::close(fd);
    throw Error(cat("fsync of ", path, " failed: ", std::strerror(err),
                    " (is the disk full or read-only?)"));
  }
  ::close(fd);
}

AtomicFile::AtomicFile(fs::path final_path) : final_path_(std::move(final_path)) {
  fs::path dir = final_path_.parent_path();
  if (!dir.empty() && !fs::is_directory(dir)) {
    throw InputError(cat("cannot write ", final_path_, ": directory ", dir,
                         " does not exist (create it or choose another output path)"));
  }
  temp_path_ = temp_sibling(final_path_);
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw Error(cat("cannot create ", temp_path_, ": ", std::strerror(errno),
                    " (check that the output directory is writable)"));
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_path_, ec);
  }
}

void AtomicFile::write(const void *data, std::size_t size) {
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(
          cat("write to ", temp_path_, " failed: ", std::strerror(errno), " (is the disk full?)"));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (::fsync(fd_) != 0) {
    throw Error(cat("fsync of ", temp_path_, " failed: ", std::strerror(errno)));
  }
  ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  fs::rename(temp_path_, final_path_, ec);
  if (ec) throw Error(cat("cannot rename ", temp_path_, " to ", final_path_, ": ", ec.message()));
  committed_ = true;
  fs::path dir = final_path_.parent_path();
  fsync_path(dir.empty() ? fs::path(".") : dir);
}

void write_file_atomic(const fs::path &path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

AtomicDir::AtomicDir(fs::path final_dir) : final_dir_(std::move(final_dir)) {
  const fs::path parent = parent_of(final_dir_);
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error(cat("cannot create directory ", parent, ": ", ec.message()));
  recover_leftovers(final_dir_);
  temp_dir_ = temp_sibling(final_dir_);
  fs::create_directory(temp_dir_, ec);
  if (ec) throw Error(cat("cannot create directory ", temp_dir_, ": ", ec.message()));
}

AtomicDir::~AtomicDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_dir_, ec);
  }
}

// The swap is one renameat2(RENAME_EXCHANGE): the final name holds the old
// directory or the new one at every instant, and a kill after it leaves the
// old one under the temporary name (removed by the next run). Filesystems
// without it get two renames, old aside then new in place; a kill between
// them leaves no final directory, so the next AtomicDir for that name
// renames the old one back (recover_leftovers).
void AtomicDir::commit() {
  if (committed_) return;
  for (const auto &entry : fs::recursive_directory_iterator(temp_dir_)) {
    if (entry.is_regular_file()) fsync_path(entry.path());
  }
  fsync_path(temp_dir_);
  step_done("synced");
  const fs::path parent = parent_of(final_dir_);
  std::error_code ec;
  if (!fs::exists(final_dir_, ec)) {
    fs::rename(temp_dir_, final_dir_, ec);
    if (ec) throw Error(cat("cannot rename ", temp_dir_, " to ", final_dir_, ": ", ec.message()));
    committed_ = true;
    fsync_path(parent);
    return;
  }
  if (!atomic_dir_test::no_exchange) {
    if (::renameat2(AT_FDCWD, temp_dir_.c_str(), AT_FDCWD, final_dir_.c_str(), RENAME_EXCHANGE) ==
        0) {
      committed_ = true;
      fsync_path(parent);
      step_done("exchanged");
      fs::remove_all(temp_dir_, ec);  // now the old directory
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
      throw Error(cat("cannot replace ", final_dir_, " with ", temp_dir_, ": ",
                      std::strerror(errno), " (check that the output directory is writable)"));
    }
  }
  const fs::path aside = parent / cat(".", final_dir_.filename().string(), ".old-", ::getpid(), "-",
                                      g_temp_counter.fetch_add(1));
  fs::rename(final_dir_, aside, ec);
  if (ec) throw Error(cat("cannot replace ", final_dir_, ": ", ec.message()));
  fsync_path(parent);
  step_done("moved_aside");
  fs::rename(temp_dir_, final_dir_, ec);
  if (ec) {
    std::error_code undo;
    fs::rename(aside, final_dir_, undo);
    throw Error(cat("cannot rename ", temp_dir_, " to ", final_dir_, ": ", ec.message()));
  }
  committed_ = true;
  fsync_path(parent);
  step_done("renamed");
  fs::remove_all(aside, ec);
}

std::string read_file(const fs::path &path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw FormatError(cat("file ", path, " does not exist (check the path)"));
  if (fs::is_directory(path, ec)) throw FormatError(cat(path, " is a directory, expected a file"));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(cat("cannot open ", path, " for reading (check permissions)"));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw FormatError(cat("read error on ", path));
  return std::move(buf).str();
}

}  // namespace masque
