// The report of a PSM experiment (issue 5): report.md with the verdict first,
// the claims with their 95% intervals, per-claim SVG bar charts, whether the
// base models learned the world, trait measurements, learning curves,
// sample replies, setup and caveats. A pure function of the results JSON
// (analysis.h adds the statistics), so the same file always gives the same
// bytes.
#pragma once
#include <filesystem>
#include <string>

#include "core/json_util.h"

namespace masque::experiment {

// Writes report.md and its SVG charts into out_dir (created if needed; each
// file atomically) and returns report.md's path. Results not yet analyzed
// (no "verdict") are analyzed on a copy with the default bootstrap.
std::filesystem::path write_experiment_report(const Json& results,
                                              const std::filesystem::path& out_dir);

// A file-name-safe form of an id: [A-Za-z0-9_-], anything else becomes '_'.
std::string file_safe(const std::string& id);

}  // namespace masque::experiment
