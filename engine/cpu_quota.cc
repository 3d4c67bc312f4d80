#include "engine/cpu_quota.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace beex {
namespace {

std::optional<int> Cores(double quota, double period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  return std::max(1, static_cast<int>(std::ceil(quota / period)));
}

}  // namespace

std::optional<int> CgroupCpuLimit(const std::string& cgroup_root) {
  // v2: "max 100000" (no limit) or "200000 100000".
  if (std::ifstream v2(cgroup_root + "/cpu.max"); v2) {
    std::string quota;
    double period = 0;
    if (!(v2 >> quota >> period) || quota == "max") return std::nullopt;
    std::istringstream parsed(quota);
    double q = 0;
    if (!(parsed >> q)) return std::nullopt;
    return Cores(q, period);
  }
  // v1: a quota of -1 is no limit.
  std::ifstream quota(cgroup_root + "/cpu/cpu.cfs_quota_us");
  std::ifstream period(cgroup_root + "/cpu/cpu.cfs_period_us");
  double q = 0, p = 0;
  if (!(quota >> q) || !(period >> p)) return std::nullopt;
  return Cores(q, p);
}

}  // namespace beex
