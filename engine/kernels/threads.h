#ifndef BEEX_ENGINE_KERNELS_THREADS_H_
#define BEEX_ENGINE_KERNELS_THREADS_H_

#include "engine/compute_threads.h"

namespace beex {

// OpenMP's thread count is per calling thread, so the engine applies
// SetIntraOpThreads's setting on the thread that runs a batch, at the start
// of each batch.
void ApplyIntraOpThreads();

// Work too small to share: waking a sleeping OpenMP thread (the engine runs
// with OMP_WAIT_POLICY=PASSIVE so idle threads leave the cores to others)
// cost about 90 us per parallel region on the 2-core machine, more than a
// batch-1 projection computes. Kernels run serially below this many
// multiply-adds (or elementwise operations).
inline constexpr long kParallelWork = 1L << 23;
// Elementwise work per value is worth about 16 multiply-adds (exp, divide).
inline constexpr long kParallelValues = kParallelWork / 16;

// Runs the calling thread's OpenMP regions (and oneDNN primitives created
// meanwhile) on one thread while it lives.
class SerialScope {
 public:
  explicit SerialScope(bool active);
  ~SerialScope();
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  int saved_ = 0;
};

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_THREADS_H_
