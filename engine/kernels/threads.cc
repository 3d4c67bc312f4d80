#include "engine/kernels/threads.h"

#include <omp.h>

namespace beex {

void ApplyIntraOpThreads() {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer cannot see the barriers of Debian's uninstrumented
  // libgomp, so every value an OpenMP worker writes and the next parallel
  // region reads on another thread reads as a race. Sanitized builds compute
  // on the batch's own thread; the kernels' results across thread counts are
  // checked by the unsanitized tests (linear_kernel_test, dense_kernel_test).
  const int n = 1;
#else
  const int n = IntraOpThreads();
#endif
  if (omp_get_max_threads() != n) omp_set_num_threads(n);
}

SerialScope::SerialScope(bool active) {
  if (!active) return;
  saved_ = omp_get_max_threads();
  omp_set_num_threads(1);
}

SerialScope::~SerialScope() {
  if (saved_ > 0) omp_set_num_threads(saved_);
}

}  // namespace beex
