#ifndef BEEX_ENGINE_KERNELS_THREADS_H_
#define BEEX_ENGINE_KERNELS_THREADS_H_

#include <omp.h>

#include <cstdint>

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

enum class Schedule { kStatic, kDynamic };

// Runs body(i) for every i in [0, n): shared out over the calling thread's
// OpenMP threads when `parallel` and it has more than one, else in a plain
// loop. The plain loop matters: a region entered with one thread still ends
// in libgomp's barrier, which wakes its futex unconditionally (a system
// call), and a batch through the grouped block path entered about ten such
// regions per input.
template <Schedule schedule = Schedule::kStatic, typename Body>
void ForEachIndex(int64_t n, bool parallel, const Body& body) {
  if (parallel && n > 1 && omp_get_max_threads() > 1) {
    if constexpr (schedule == Schedule::kDynamic) {
#pragma omp parallel for schedule(dynamic)
      for (int64_t i = 0; i < n; ++i) body(i);
    } else {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) body(i);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_THREADS_H_
