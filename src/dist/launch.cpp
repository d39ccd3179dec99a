// exec_under_mpirun and the per-rank thread default (launch.h). The
// original arguments are read back from /proc/self/cmdline, so the CLI
// parser needs no copy of argv.
#include "dist/launch.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "dist/communicator.h"

namespace masque::dist {
namespace {

std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (std::size_t begin = 0; begin < raw.size();) {
    const std::size_t end = raw.find('\0', begin);
    args.push_back(raw.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  if (args.empty()) throw Error("cannot read this process's arguments from /proc/self/cmdline");
  return args;
}

std::string own_executable() {
  std::vector<char> buf(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) throw Error(cat("cannot resolve /proc/self/exe: ", std::strerror(errno)));
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

bool on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string dirs = path;
  for (std::size_t begin = 0; begin <= dirs.size();) {
    const std::size_t end = std::min(dirs.find(':', begin), dirs.size());
    const std::string dir = dirs.substr(begin, end - begin);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    begin = end + 1;
  }
  return false;
}

}  // namespace

int default_threads_per_rank() {
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t mask;
  if (::sched_getaffinity(0, sizeof(mask), &mask) == 0) cpus = std::max(1, CPU_COUNT(&mask));
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const int ranks_here = local != nullptr ? std::max(1, std::atoi(local)) : 1;
  // A rank bound to its own cores sees only those; an unbound one shares all.
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return cpus < all ? cpus : std::max(1, cpus / ranks_here);
}

void exec_under_mpirun(int nproc) {
  if (nproc < 1) throw InputError(cat("--nproc must be >= 1, got ", nproc));
  if (nproc == 1) return;
  if (launched_as_rank()) {
    throw InputError(
        "--nproc: this process already runs under mpirun; give the number of processes to "
        "mpirun (-np N) and leave --nproc out");
  }
  if (!built_with_mpi()) {
    throw InputError(
        "--nproc needs masque built with MPI (apt-get install libopenmpi-dev openmpi-bin, then "
        "reconfigure with -DMASQUE_MPI=ON); without it, train in one process");
  }
  const char* override_path = std::getenv("MASQUE_MPIRUN");
  const std::string mpirun = override_path != nullptr && *override_path ? override_path : "mpirun";
  if (!on_path(mpirun)) {
    throw InputError(cat("--nproc: '", mpirun,
                         "' was not found (apt-get install openmpi-bin, or set MASQUE_MPIRUN to "
                         "its path)"));
  }
  std::vector<std::string> args = own_arguments();
  std::vector<std::string> rest;
  bool threads_given = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0) continue;
    if (a == "--threads" || a.rfind("--threads=", 0) == 0) threads_given = true;
    rest.push_back(a);
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::string> command = {mpirun, "-np", std::to_string(nproc), "--bind-to", "none"};
  if (::geteuid() == 0) command.push_back("--allow-run-as-root");
  if (nproc > cores) command.push_back("--oversubscribe");
  command.push_back(own_executable());
  if (!threads_given) {
    command.push_back("--threads");
    command.push_back(std::to_string(std::max(1, cores / nproc)));
  }
  command.insert(command.end(), rest.begin(), rest.end());
  std::vector<char*> argv;
  for (std::string& c : command) argv.push_back(c.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  ::execvp(argv[0], argv.data());
  throw Error(cat("--nproc: cannot run ", mpirun, ": ", std::strerror(errno)));
}

}  // namespace masque::dist
