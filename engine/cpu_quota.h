#ifndef BEEX_ENGINE_CPU_QUOTA_H_
#define BEEX_ENGINE_CPU_QUOTA_H_

#include <optional>
#include <string>

namespace beex {

// The CPU limit of the container the process runs in, in whole cores
// (rounded up), read from the cgroup filesystem mounted at `cgroup_root`:
// cgroup v2's cpu.max, else v1's cpu/cpu.cfs_quota_us over
// cpu.cfs_period_us. nullopt when there is no limit or no such file.
//
// Why: a Kubernetes CPU limit is a CFS quota, not an affinity mask, so a pod
// limited to 2 CPUs on a 64-core node still sees 64 cores; threads sized by
// those run 32 to a core's worth of quota and are throttled.
std::optional<int> CgroupCpuLimit(const std::string& cgroup_root);

}  // namespace beex

#endif  // BEEX_ENGINE_CPU_QUOTA_H_
