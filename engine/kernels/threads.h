#ifndef BEEX_ENGINE_KERNELS_THREADS_H_
#define BEEX_ENGINE_KERNELS_THREADS_H_

namespace beex {

// Intra-op threads of the engine: oneDNN and our own kernels share one
// OpenMP (libgomp) pool, so this one number bounds the compute threads of a
// batch. 0 (the default) means every core the process may use. A server that
// runs several model workers at once should give each n = cores / workers,
// or batches oversubscribe the cores.
void SetIntraOpThreads(int n);
// The resolved count (>= 1).
int IntraOpThreads();
// OpenMP's thread count is per calling thread, so the engine applies the
// setting on the thread that runs a batch, at the start of each batch.
void ApplyIntraOpThreads();

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_THREADS_H_
