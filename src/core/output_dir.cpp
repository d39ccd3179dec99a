// Output directory checks (see output_dir.h). Writability is probed by
// creating and removing a file, because access(W_OK) says yes to root on a
// read-only mount and says nothing about a full or read-only file system.
#include "core/output_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.h"

namespace masque {
namespace fs = std::filesystem;

void check_output_dir_writable(const fs::path& dir, std::string_view flag) {
  if (dir.empty()) throw InputError(cat(flag, " is empty (give an output directory)"));
  std::error_code ec;
  // The nearest existing ancestor is where the directory will be created.
  fs::path probe_dir = dir;
  while (!fs::exists(probe_dir, ec)) {
    const fs::path parent = probe_dir.has_parent_path() && probe_dir.parent_path() != probe_dir
                                ? probe_dir.parent_path()
                                : fs::path(".");
    if (parent == probe_dir) break;
    probe_dir = parent;
  }
  if (!fs::is_directory(probe_dir, ec)) {
    if (probe_dir == dir) {
      throw InputError(cat(flag, " ", dir.string(),
                           " exists and is not a directory (choose another output path)"));
    }
    throw InputError(cat(flag, " ", dir.string(), ": ", probe_dir.string(),
                         " is not a directory, so nothing can be created under it "
                         "(choose another output path)"));
  }
  const fs::path probe = probe_dir / cat(".masque-write-test-", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) return;  // a leftover probe: the directory takes files
    throw InputError(cat(flag, " ", dir.string(), ": cannot create files in ", probe_dir.string(),
                         " (", std::strerror(err), "); choose a writable output directory"));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace masque
