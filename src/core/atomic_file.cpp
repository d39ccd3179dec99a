// Implementation of AtomicFile / AtomicDir (see atomic_file.h for the contract).
#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace masque {
namespace {

std::atomic<unsigned> g_temp_counter{0};

std::string unique_suffix() { return cat(".tmp-", ::getpid(), "-", g_temp_counter.fetch_add(1)); }

fs::path temp_sibling(const fs::path& final_path) {
  fs::path dir = final_path.parent_path();
  if (dir.empty()) dir = ".";
  return dir / ("." + final_path.filename().string() + unique_suffix());
}

}  // namespace

void fsync_path(const fs::path& path) {
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

void AtomicFile::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
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

void write_file_atomic(const fs::path& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

AtomicDir::AtomicDir(fs::path final_dir) : final_dir_(std::move(final_dir)) {
  fs::path parent = final_dir_.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error(cat("cannot create directory ", parent, ": ", ec.message()));
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

void AtomicDir::commit() {
  if (committed_) return;
  for (const auto& entry : fs::recursive_directory_iterator(temp_dir_)) {
    if (entry.is_regular_file()) fsync_path(entry.path());
  }
  fsync_path(temp_dir_);
  std::error_code ec;
  if (fs::exists(final_dir_)) {
    // Move the old directory aside first so there is never a moment with neither.
    fs::path old = temp_sibling(final_dir_);
    fs::rename(final_dir_, old, ec);
    if (ec) throw Error(cat("cannot replace ", final_dir_, ": ", ec.message()));
    fs::rename(temp_dir_, final_dir_, ec);
    if (ec) throw Error(cat("cannot rename ", temp_dir_, " to ", final_dir_, ": ", ec.message()));
    fs::remove_all(old, ec);
  } else {
    fs::rename(temp_dir_, final_dir_, ec);
    if (ec) throw Error(cat("cannot rename ", temp_dir_, " to ", final_dir_, ": ", ec.message()));
  }
  committed_ = true;
  fs::path parent = final_dir_.parent_path();
  fsync_path(parent.empty() ? fs::path(".") : parent);
}

std::string read_file(const fs::path& path) {
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
