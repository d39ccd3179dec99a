// prune_checkpoints (see checkpoint_retention.h).
#include "train/checkpoint_retention.h"

#include <algorithm>
#include <cstdio>

#include "infer/model_dir.h"

namespace masque {
namespace fs = std::filesystem;

void prune_checkpoints(const fs::path& run_dir, int keep, const CheckpointCheck& is_good) {
  int kept = 0;
  for (const CheckpointEntry& c : list_checkpoints(run_dir)) {  // newest first
    std::error_code ec;
    if (kept >= std::max(keep, 1)) {
      fs::remove_all(c.dir, ec);
      continue;
    }
    std::string why;
    if (is_good(c.dir, &why)) {
      ++kept;
      continue;
    }
    // Resume skips it anyway; counting it would push out a good one.
    std::fprintf(stderr, "masque: warning: removing broken checkpoint %s: %s\n", c.dir.c_str(),
                 why.c_str());
    fs::remove_all(c.dir, ec);
  }
}

}  // namespace masque
