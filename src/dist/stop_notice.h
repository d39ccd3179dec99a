// What a rank says when the job is stopped from outside: mpirun ends every
// rank with SIGTERM when one of them fails (kill -9, a crash, an error), and
// rank 0 then names the last complete checkpoint and how to resume, so the
// user learns from one place whether the work is safe.
#pragma once
#include <string>

namespace masque::dist {

// Installs the SIGTERM handler (rank 0 prints the note; other ranks exit
// quietly). Called once when MPI's world is created.
void install_stop_notice(int rank);
// Records the newest complete checkpoint (rank 0 after each save).
void note_last_checkpoint(const std::string& path);
// "the last complete checkpoint is X; resume ..." or "no checkpoint was written yet".
std::string last_checkpoint_note();

}  // namespace masque::dist
