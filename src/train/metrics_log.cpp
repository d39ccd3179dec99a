// MetricsLog: the cut-back on resume is an atomic rewrite (temp + rename), so
// a kill during it leaves the old file.
#include "train/metrics_log.h"

#include <cerrno>
#include <cstring>
#include <sstream>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"

namespace masque {

MetricsLog::MetricsLog(const std::filesystem::path& path, std::int64_t keep_through_step)
    : path_(path) {
  std::string kept;
  if (keep_through_step >= 0 && std::filesystem::exists(path)) {
    std::istringstream in(read_file(path));
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // no trailing newline: a line torn by a kill
      const Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!record.is_object() || !record.contains("step") || !record["step"].is_number_integer()) {
        continue;
      }
      if (record["step"].get<std::int64_t>() <= keep_through_step) kept += line + "\n";
    }
  }
  write_file_atomic(path, kept);
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) {
    throw Error(cat("cannot open ", path.string(), " for appending: ", std::strerror(errno)));
  }
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::append(const Json& record) {
  const std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    throw Error(cat("cannot write to ", path_.string(), ": ", std::strerror(errno),
                    " (is the disk full?)"));
  }
}

}  // namespace masque
