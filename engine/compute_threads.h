#ifndef BEEX_ENGINE_COMPUTE_THREADS_H_
#define BEEX_ENGINE_COMPUTE_THREADS_H_

namespace beex {

// Process-wide compute threads of the engine. oneDNN and the engine's own
// kernels share one OpenMP (libgomp) pool, so this one number bounds the
// compute threads of a batch. 0 (the default) means every core the process
// may use. A server that runs several batches at once should give each
// IntraOpThreadsSharing(n), or batches oversubscribe the cores.
void SetIntraOpThreads(int n);
// The resolved count (>= 1).
int IntraOpThreads();
// The cores the process may use: its CPU affinity, capped by its
// container's CPU limit (cpu_quota.h); >= 1.
int UsableCores();
// Threads per batch when `concurrent_batches` run at once: the usable cores
// shared out, at least 1.
int IntraOpThreadsSharing(int concurrent_batches);

}  // namespace beex

#endif  // BEEX_ENGINE_COMPUTE_THREADS_H_
