#include "engine/kernels/threads.h"

#include <omp.h>

namespace beex {

void ApplyIntraOpThreads() {
  const int n = IntraOpThreads();
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
