// `masque train|sft --nproc N`: re-executes the same command under
// `mpirun -np N` on this machine (docs/distributed.md), and the per-rank
// defaults a data-parallel process needs.
#pragma once

namespace masque::dist {

// Replaces this process with `mpirun -np N --bind-to none [--allow-run-as-root]
// [--oversubscribe] <this masque> --threads T <the same arguments without --nproc>`,
// T = the machine's cores / N unless --threads was given. `mpirun` is
// looked up on PATH (MASQUE_MPIRUN overrides it). InputError when masque
// was built without MPI, mpirun is missing, N < 1, or this process already
// is a rank of mpirun. Returns only for N == 1 (nothing to launch).
void exec_under_mpirun(int nproc);

// Threads per rank when --threads is not given: the CPUs this process may
// run on (its affinity mask; mpirun may have bound it) shared by the ranks
// on this machine.
int default_threads_per_rank();

}  // namespace masque::dist
