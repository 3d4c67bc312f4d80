#include "engine/kernels/threads.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <vector>

namespace beex {
namespace {

// Each index's visit count, and the deepest OpenMP nesting level seen.
struct Visits {
  explicit Visits(int64_t n) : count(n) {}
  std::vector<std::atomic<int>> count;
  std::atomic<int> max_level{0};

  void Record(int64_t i) {
    count[i].fetch_add(1);
    int level = omp_get_level();
    int seen = max_level.load();
    while (level > seen && !max_level.compare_exchange_weak(seen, level)) {
    }
  }
  bool EachOnce() const {
    for (const auto& c : count) {
      if (c.load() != 1) return false;
    }
    return true;
  }
};

class ForEachIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = omp_get_max_threads();
    omp_set_num_threads(2);
  }
  void TearDown() override { omp_set_num_threads(saved_); }

 private:
  int saved_ = 1;
};

// A region entered with one thread still pays libgomp's closing futex wake,
// so serial work must not enter one at all.
TEST_F(ForEachIndexTest, SerialWorkRunsOutsideOpenMp) {
  Visits visits(100);
  ForEachIndex(100, /*parallel=*/false, [&](int64_t i) { visits.Record(i); });
  EXPECT_TRUE(visits.EachOnce());
  EXPECT_EQ(visits.max_level.load(), 0);
}

TEST_F(ForEachIndexTest, SerialScopeKeepsParallelWorkOutsideOpenMp) {
  const SerialScope serial(true);
  Visits visits(100);
  ForEachIndex<Schedule::kDynamic>(100, /*parallel=*/true,
                                   [&](int64_t i) { visits.Record(i); });
  EXPECT_TRUE(visits.EachOnce());
  EXPECT_EQ(visits.max_level.load(), 0);
}

TEST_F(ForEachIndexTest, ParallelWorkVisitsEveryIndexOnceOnATeam) {
  for (const bool dynamic : {false, true}) {
    Visits visits(1000);
    auto record = [&](int64_t i) { visits.Record(i); };
    if (dynamic) {
      ForEachIndex<Schedule::kDynamic>(1000, true, record);
    } else {
      ForEachIndex<Schedule::kStatic>(1000, true, record);
    }
    EXPECT_TRUE(visits.EachOnce()) << "dynamic " << dynamic;
    EXPECT_EQ(visits.max_level.load(), 1) << "dynamic " << dynamic;
  }
}

TEST_F(ForEachIndexTest, NoIndicesRunsNothing) {
  int calls = 0;
  ForEachIndex(0, true, [&](int64_t) { ++calls; });
  ForEachIndex(0, false, [&](int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace beex
