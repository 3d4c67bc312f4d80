// The container CPU limit, read from a cgroup filesystem laid out in a
// temporary directory as cgroup v2 and v1 mount it.
#include "engine/cpu_quota.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/compute_threads.h"

namespace beex {
namespace {

class CgroupCpuLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("cpu_quota_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "cpu");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void Write(const std::string& file, const std::string& text) {
    std::ofstream(root_ / file) << text;
  }
  std::optional<int> Limit() { return CgroupCpuLimit(root_.string()); }

  std::filesystem::path root_;
};

TEST_F(CgroupCpuLimitTest, V2QuotaRoundsUpToWholeCores) {
  Write("cpu.max", "200000 100000\n");
  EXPECT_EQ(Limit(), 2);
  Write("cpu.max", "150000 100000\n");
  EXPECT_EQ(Limit(), 2);
  Write("cpu.max", "50000 100000\n");
  EXPECT_EQ(Limit(), 1);
}

TEST_F(CgroupCpuLimitTest, V2WithoutALimitIsNone) {
  Write("cpu.max", "max 100000\n");
  EXPECT_EQ(Limit(), std::nullopt);
  Write("cpu.max", "garbage\n");
  EXPECT_EQ(Limit(), std::nullopt);
}

TEST_F(CgroupCpuLimitTest, V1QuotaOverPeriod) {
  Write("cpu/cpu.cfs_quota_us", "400000\n");
  Write("cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(Limit(), 4);
  Write("cpu/cpu.cfs_quota_us", "-1\n");
  EXPECT_EQ(Limit(), std::nullopt);
}

TEST_F(CgroupCpuLimitTest, NoCgroupFilesIsNone) {
  EXPECT_EQ(Limit(), std::nullopt);
  EXPECT_EQ(CgroupCpuLimit("/nonexistent/cgroup"), std::nullopt);
}

// Threads per batch when several batches compute at once: the cores shared
// out, never none.
TEST(IntraOpThreadsSharingTest, SharesTheUsableCoresAmongBatches) {
  const int cores = UsableCores();
  ASSERT_GE(cores, 1);
  EXPECT_EQ(IntraOpThreadsSharing(1), cores);
  EXPECT_EQ(IntraOpThreadsSharing(0), cores);
  EXPECT_EQ(IntraOpThreadsSharing(2), std::max(1, cores / 2));
  EXPECT_EQ(IntraOpThreadsSharing(cores + 1), 1);
}

}  // namespace
}  // namespace beex
