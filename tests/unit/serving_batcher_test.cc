// The batcher's token budget, dropping of dead items, several workers and
// Stop; the work pool the service tokenizes on; the call tracker a drain
// waits on.
#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/batcher.h"
#include "server/call_tracker.h"
#include "server/work_pool.h"

namespace beex {
namespace {

struct Costed {
  int id;
  size_t tokens;
  bool live = true;
};

BatcherHooks<Costed> CostHooks(std::vector<int>* dropped, absl::Mutex* mu) {
  return {
      .cost = [](const Costed& c) { return c.tokens; },
      .is_live = [](const Costed& c) { return c.live; },
      .drop =
          [dropped, mu](std::vector<Costed> items) {
            absl::MutexLock lock(mu);
            for (const auto& c : items) dropped->push_back(c.id);
          },
  };
}

TEST(ServingBatcherTest, TokenBudgetCutsBatches) {
  absl::Mutex mu;
  std::vector<std::vector<int>> batches;
  std::vector<int> dropped;
  {
    BatcherOptions o;
    o.max_batch_size = 100;
    o.max_batch_tokens = 10;
    o.max_delay = absl::Seconds(10);  // only the budget or Stop cuts
    Batcher<Costed> b(
        o,
        [&](std::vector<Costed> batch) {
          absl::MutexLock lock(&mu);
          batches.emplace_back();
          for (const auto& c : batch) batches.back().push_back(c.id);
        },
        CostHooks(&dropped, &mu));
    // 4 + 4 fit; 4 more would be 12 > 10. A 30-token item is a batch alone.
    ASSERT_TRUE(b.Enqueue({{0, 4}, {1, 4}, {2, 4}, {3, 30}, {4, 1}}).ok());
  }
  ASSERT_GE(batches.size(), 3u);
  EXPECT_EQ(batches[0], (std::vector<int>{0, 1}));
  EXPECT_EQ(batches[1], (std::vector<int>{2}));
  EXPECT_EQ(batches[2], (std::vector<int>{3}));
  std::vector<int> all;
  for (const auto& batch : batches)
    all.insert(all.end(), batch.begin(), batch.end());
  EXPECT_EQ(all, (std::vector<int>{0, 1, 2, 3, 4}));  // order kept
  EXPECT_TRUE(dropped.empty());
}

TEST(ServingBatcherTest, FullBudgetDoesNotWaitForTheDelay) {
  std::atomic<int> batches = 0;
  BatcherOptions o;
  o.max_batch_size = 100;
  o.max_batch_tokens = 8;
  o.max_delay = absl::Seconds(30);
  Batcher<Costed> b(o, [&](std::vector<Costed>) { ++batches; },
                    {.cost = [](const Costed& c) { return c.tokens; },
                     .is_live = nullptr,
                     .drop = nullptr});
  // 10 tokens queued pass the budget: the first item leaves at once; the
  // second (5 < 8) would wait for the delay, and Stop flushes it.
  ASSERT_TRUE(b.Enqueue({{0, 5}, {1, 5}}).ok());
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  while (batches == 0 && absl::Now() < limit) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(batches, 1);
  b.Stop();
  EXPECT_EQ(batches, 2);
}

TEST(ServingBatcherTest, DeadItemsAreDroppedNotBatched) {
  absl::Mutex mu;
  std::vector<int> computed, dropped;
  {
    BatcherOptions o;
    o.max_batch_size = 2;
    o.max_delay = absl::Seconds(10);
    Batcher<Costed> b(
        o,
        [&](std::vector<Costed> batch) {
          absl::MutexLock lock(&mu);
          EXPECT_LE(batch.size(), 2u);
          for (const auto& c : batch) computed.push_back(c.id);
        },
        CostHooks(&dropped, &mu));
    ASSERT_TRUE(
        b.Enqueue({{0, 1, false}, {1, 1}, {2, 1, false}, {3, 1}, {4, 1, false}})
            .ok());
  }
  EXPECT_EQ(computed, (std::vector<int>{1, 3}));
  EXPECT_EQ(dropped, (std::vector<int>{0, 2, 4}));
}

TEST(ServingBatcherTest, SeveralWorkersComputeEveryItemOnce) {
  std::atomic<int> sum = 0, count = 0;
  {
    BatcherOptions o;
    o.max_batch_size = 3;
    o.max_delay = absl::Microseconds(100);
    o.num_workers = 3;
    Batcher<int> b(o, [&](std::vector<int> batch) {
      EXPECT_LE(batch.size(), 3u);
      for (int i : batch) {
        sum += i;
        ++count;
      }
    });
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(b.Enqueue({i}).ok());
  }
  EXPECT_EQ(count, 100);
  EXPECT_EQ(sum, 99 * 100 / 2);
}

TEST(ServingBatcherTest, StopFinishesQueuedWorkThenRefuses) {
  std::atomic<int> processed = 0;
  BatcherOptions o;
  o.max_batch_size = 2;
  o.max_delay = absl::Seconds(10);
  Batcher<int> b(o, [&](std::vector<int> batch) { processed += batch.size(); });
  ASSERT_TRUE(b.Enqueue({1, 2, 3}).ok());
  b.Stop();
  EXPECT_EQ(processed, 3);
  EXPECT_EQ(b.Enqueue({4}).code(), absl::StatusCode::kUnavailable);
  b.Stop();  // idempotent
}

TEST(WorkPoolTest, RunsTasksConcurrentlyAndBoundsThePending) {
  absl::Notification release;
  std::atomic<int> running = 0, done = 0;
  WorkPool pool(2, 1);
  auto task = [&] {
    ++running;
    release.WaitForNotification();
    ++done;
  };
  auto wait_running = [&](int n) {
    const absl::Time limit = absl::Now() + absl::Seconds(10);
    while (running < n && absl::Now() < limit) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    return running.load();
  };
  EXPECT_TRUE(pool.TrySchedule(task));
  EXPECT_EQ(wait_running(1), 1);
  EXPECT_TRUE(pool.TrySchedule(task));
  // Both threads hold a task: one tokenizing request does not wait for
  // another.
  EXPECT_EQ(wait_running(2), 2);
  EXPECT_TRUE(pool.TrySchedule(task));   // one may wait
  EXPECT_FALSE(pool.TrySchedule(task));  // the second is refused
  release.Notify();
  pool.Stop();
  EXPECT_EQ(done, 3);
  EXPECT_FALSE(pool.TrySchedule(task));
}

TEST(CallTrackerTest, QuietAtOnceWhenNothingArrivedLately) {
  CallTracker calls;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  EXPECT_TRUE(calls.AwaitQuiet(absl::Milliseconds(100), deadline));
  calls.Arrived();
  calls.Finished();
  absl::SleepFor(absl::Milliseconds(60));
  EXPECT_TRUE(calls.AwaitQuiet(absl::Milliseconds(50), deadline));
  EXPECT_LT(absl::Now(), deadline);
}

TEST(CallTrackerTest, ACallInFlightHoldsTheDrainUntilTheDeadline) {
  CallTracker calls;
  calls.Arrived();
  const absl::Time deadline = absl::Now() + absl::Milliseconds(200);
  EXPECT_FALSE(calls.AwaitQuiet(absl::ZeroDuration(), deadline));
  EXPECT_GE(absl::Now(), deadline);
}

TEST(CallTrackerTest, WaitsForArrivalsToStopThenForTheQuietPeriod) {
  CallTracker calls;
  std::atomic<bool> sending = true;
  absl::Time last_sent;
  calls.Arrived();  // the first call, before the drain starts waiting
  calls.Finished();
  std::thread client([&] {
    const absl::Time stop = absl::Now() + absl::Milliseconds(300);
    while (absl::Now() < stop) {
      calls.Arrived();
      absl::SleepFor(absl::Milliseconds(2));
      calls.Finished();
      last_sent = absl::Now();
      absl::SleepFor(absl::Milliseconds(10));
    }
    sending = false;
  });
  const absl::Duration quiet = absl::Milliseconds(100);
  EXPECT_TRUE(calls.AwaitQuiet(quiet, absl::Now() + absl::Seconds(10)));
  EXPECT_FALSE(sending);
  client.join();
  EXPECT_GE(absl::Now() - last_sent, quiet - absl::Milliseconds(15));
}

TEST(CallTrackerTest, ArrivalsThatNeverStopEndAtTheDeadline) {
  CallTracker calls;
  std::atomic<bool> stop = false;
  calls.Arrived();
  calls.Finished();
  std::thread client([&] {
    while (!stop) {
      calls.Arrived();
      calls.Finished();
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  const absl::Time deadline = absl::Now() + absl::Milliseconds(300);
  EXPECT_FALSE(calls.AwaitQuiet(absl::Milliseconds(100), deadline));
  EXPECT_GE(absl::Now(), deadline);
  stop = true;
  client.join();
}

}  // namespace
}  // namespace beex
