#include "engine/compute_threads.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <optional>

#include "engine/cpu_quota.h"

namespace beex {
namespace {

std::atomic<int> requested{0};

}  // namespace

void SetIntraOpThreads(int n) { requested.store(n < 0 ? 0 : n); }

int IntraOpThreads() {
  const int n = requested.load();
  return n > 0 ? n : UsableCores();
}

int UsableCores() {
  // The quota does not change while the process runs; read it once.
  static const std::optional<int> limit = CgroupCpuLimit("/sys/fs/cgroup");
  const int affinity = std::max(1, omp_get_num_procs());
  return limit ? std::min(affinity, *limit) : affinity;
}

int IntraOpThreadsSharing(int concurrent_batches) {
  return std::max(1, UsableCores() / std::max(1, concurrent_batches));
}

}  // namespace beex
