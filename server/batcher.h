#ifndef BEEX_SERVER_BATCHER_H_
#define BEEX_SERVER_BATCHER_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace beex {

struct BatcherOptions {
  size_t max_batch_size = 32;                           // items per batch
  absl::Duration max_delay = absl::Microseconds(2000);  // oldest item's wait
  size_t max_queue = 4096;  // items waiting; more are refused
};

// Groups items from concurrent callers into batches for one worker thread,
// in the manner of TF Serving's batch scheduler: a batch is cut when it is
// full or when its oldest item has waited max_delay. Knows nothing of models.
template <typename Item>
class Batcher {
 public:
  using ProcessFn = std::function<void(std::vector<Item>)>;

  Batcher(BatcherOptions options, ProcessFn process)
      : options_(options),
        process_(std::move(process)),
        worker_([this] { Loop(); }) {}

  // Finishes every queued item, then stops.
  ~Batcher() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    worker_.join();
  }

  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues all items or none: RESOURCE_EXHAUSTED when they do not fit.
  absl::Status Enqueue(std::vector<Item> items) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("batcher is stopping");
    if (queue_.size() + items.size() > options_.max_queue) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "queue full: ", queue_.size(), " items waiting, ", items.size(),
          " more would pass the limit of ", options_.max_queue));
    }
    const absl::Time now = absl::Now();
    for (auto& item : items) queue_.push_back({std::move(item), now});
    return absl::OkStatus();
  }

  size_t queued() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  struct Entry {
    Item item;
    absl::Time arrival;
  };

  void Loop() {
    while (true) {
      std::vector<Item> batch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Batcher* b) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return b->stopping_ || !b->queue_.empty();
            },
            this));
        if (queue_.empty()) return;  // stopping, and nothing left
        // Wait for a full batch, up to the oldest item's deadline.
        const absl::Time cut = queue_.front().arrival + options_.max_delay;
        mu_.AwaitWithDeadline(
            absl::Condition(
                +[](Batcher* b) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                  return b->stopping_ ||
                         b->queue_.size() >= b->options_.max_batch_size;
                },
                this),
            cut);
        const size_t n = std::min(queue_.size(), options_.max_batch_size);
        batch.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front().item));
          queue_.pop_front();
        }
      }
      process_(std::move(batch));
    }
  }

  const BatcherOptions options_;
  const ProcessFn process_;
  mutable absl::Mutex mu_;
  std::deque<Entry> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;  // last: starts after the members above exist
};

}  // namespace beex

#endif  // BEEX_SERVER_BATCHER_H_
