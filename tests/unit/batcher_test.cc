#include "server/batcher.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace beex {
namespace {

TEST(BatcherTest, CutsFullBatchesAtMaxSize) {
  absl::Mutex mu;
  std::vector<size_t> sizes;
  std::vector<int> seen;
  {
    BatcherOptions o;
    o.max_batch_size = 4;
    o.max_delay = absl::Seconds(10);  // only size or shutdown cuts batches
    Batcher<int> b(o, [&](std::vector<int> batch) {
      absl::MutexLock lock(&mu);
      sizes.push_back(batch.size());
      seen.insert(seen.end(), batch.begin(), batch.end());
    });
    ASSERT_TRUE(b.Enqueue({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}).ok());
  }  // The destructor flushes what is left.
  ASSERT_EQ(seen.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(seen[i], i);  // order kept
  for (size_t s : sizes) EXPECT_LE(s, 4u);
  EXPECT_EQ(sizes.front(), 4u);
}

TEST(BatcherTest, PartialBatchLeavesAfterMaxDelay) {
  absl::Notification done;
  absl::Time processed;
  BatcherOptions o;
  o.max_batch_size = 100;
  o.max_delay = absl::Milliseconds(30);
  Batcher<int> b(o, [&](std::vector<int> batch) {
    EXPECT_EQ(batch.size(), 2u);
    processed = absl::Now();
    done.Notify();
  });
  const absl::Time start = absl::Now();
  ASSERT_TRUE(b.Enqueue({1, 2}).ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_GE(processed - start, absl::Milliseconds(29));
}

TEST(BatcherTest, FullQueueRefusesWholeRequest) {
  absl::Notification release;
  std::atomic<int> processed = 0;
  BatcherOptions o;
  o.max_batch_size = 1;
  o.max_delay = absl::ZeroDuration();
  o.max_queue = 3;
  Batcher<int> b(o, [&](std::vector<int> batch) {
    release.WaitForNotification();
    processed += batch.size();
  });
  ASSERT_TRUE(b.Enqueue({1}).ok());
  // Wait until the worker holds item 1, so the queue is empty again.
  while (b.queued() != 0) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(b.Enqueue({2, 3}).ok());
  const absl::Status full = b.Enqueue({4, 5});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(b.Enqueue({4}).ok());  // exactly at the limit
  release.Notify();
  while (processed < 4) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(processed, 4);
}

}  // namespace
}  // namespace beex
