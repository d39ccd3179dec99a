// Crash-safe file and directory writes: everything masque writes goes to a
// temporary sibling, is fsynced, then renamed over the final name, so a crash
// or kill -9 leaves either the old file or the complete new one, never half.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string_view>

namespace masque {

namespace fs = std::filesystem;

// Writes bytes to `final_path` atomically. Destroying an uncommitted AtomicFile
// removes the temporary file, so an exception mid-write leaves nothing behind.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path final_path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // fsync, close, rename over the final name, fsync the directory.
  void commit();
  const fs::path& temp_path() const { return temp_path_; }

 private:
  fs::path final_path_;
  fs::path temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

// One-shot convenience for small files.
void write_file_atomic(const fs::path& path, std::string_view contents);

// Builds a directory under a temporary name; commit() fsyncs every file in it
// and renames it into place (replacing an existing directory of that name).
class AtomicDir {
 public:
  explicit AtomicDir(fs::path final_dir);
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;
  ~AtomicDir();

  const fs::path& path() const { return temp_dir_; }  // write files here
  void commit();

 private:
  fs::path final_dir_;
  fs::path temp_dir_;
  bool committed_ = false;
};

void fsync_path(const fs::path& path);  // file or directory

// Test-only hooks into AtomicDir::commit, so a test can kill the process
// between its steps (tests/core/test_atomic_dir.cpp). Null/false in masque.
namespace atomic_dir_test {
// Called with the name of each step just done: "synced", "exchanged" (the
// new directory is in place, the old one under the temporary name),
// "moved_aside" (fallback: the old directory renamed aside, nothing at the
// final name yet), "renamed" (fallback: the new directory in place).
inline void (*after_step)(const char* step) = nullptr;
// Force the two-rename fallback used where renameat2(RENAME_EXCHANGE) is
// not supported.
inline bool no_exchange = false;
}  // namespace atomic_dir_test

// Reads a whole file; throws FormatError naming the path if it can't.
std::string read_file(const fs::path& path);

}  // namespace masque
