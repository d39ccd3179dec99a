// Checkpoint retention (--keep): which checkpoints of a run directory stay
// after a save. Only complete checkpoints count toward --keep, so a broken
// one (a damaged file) never survives while the last good one is deleted.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

namespace masque {

// Whether a checkpoint directory can be resumed from; `why` gets the problem.
using CheckpointCheck = std::function<bool(const std::filesystem::path& dir, std::string* why)>;

// Keeps the newest `keep` (>= 1) checkpoints of RUN_DIR/checkpoints that
// `is_good` accepts; removes older good ones and every broken one (with a
// warning naming it and the problem on stderr).
void prune_checkpoints(const std::filesystem::path& run_dir, int keep,
                       const CheckpointCheck& is_good);

}  // namespace masque
