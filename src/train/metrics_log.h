// metrics.jsonl: one JSON object per line, {"type": "train"|"val", "step", ...}
// (docs/training.md). Lines are appended and flushed as they happen; on
// resume the file is cut back to the resumed step, so an interrupted and
// resumed run leaves the same lines as an uninterrupted one.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>

#include "core/json_util.h"

namespace masque {

class MetricsLog {
 public:
  // keep_through_step < 0: start empty; else keep complete lines with
  // step <= keep_through_step (a torn last line from a kill is dropped).
  MetricsLog(const std::filesystem::path& path, std::int64_t keep_through_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void append(const Json& record);

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace masque
