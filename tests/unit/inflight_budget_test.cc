#include "server/inflight_budget.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace beex {
namespace {

TEST(InflightBudgetTest, AdmitsUpToTheLimitAndAgainAfterRelease) {
  InflightBudget budget(100);
  EXPECT_TRUE(budget.TryAdmit(60));
  EXPECT_TRUE(budget.TryAdmit(40));  // exactly at the limit
  EXPECT_FALSE(budget.TryAdmit(1));
  EXPECT_EQ(budget.held(), 100u);  // a refusal counts nothing
  budget.Release(40);
  EXPECT_FALSE(budget.TryAdmit(41));
  EXPECT_TRUE(budget.TryAdmit(40));
  budget.Release(40);
  budget.Release(60);
  EXPECT_EQ(budget.held(), 0u);
}

TEST(InflightBudgetTest, ARequestAboveTheLimitRunsAlone) {
  InflightBudget budget(100);
  EXPECT_TRUE(budget.TryAdmit(500));  // nothing else in flight
  EXPECT_FALSE(budget.TryAdmit(1));
  budget.Release(500);
  EXPECT_TRUE(budget.TryAdmit(1));
  EXPECT_FALSE(budget.TryAdmit(500));  // not while another is in flight
}

TEST(InflightBudgetTest, ZeroMeansNoLimit) {
  InflightBudget budget(0);
  EXPECT_TRUE(budget.TryAdmit(size_t{1} << 40));
  EXPECT_TRUE(budget.TryAdmit(size_t{1} << 40));
}

TEST(InflightBudgetTest, ConcurrentCallersNeverOvershoot) {
  constexpr size_t kLimit = 1000, kBytes = 7;
  InflightBudget budget(kLimit);
  std::atomic<bool> overshot{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!budget.TryAdmit(kBytes)) continue;
        if (budget.held() > kLimit) overshot = true;
        budget.Release(kBytes);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(overshot.load());
  EXPECT_EQ(budget.held(), 0u);
}

}  // namespace
}  // namespace beex
