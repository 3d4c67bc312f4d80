#ifndef BEEX_SERVER_BATCHER_H_
#define BEEX_SERVER_BATCHER_H_

#include <algorithm>
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
  size_t max_batch_size = 32;  // items per batch
  // Sum of item costs (tokens) per batch; 0: no budget. A single item above
  // the budget still forms a batch of its own.
  size_t max_batch_tokens = 0;
  absl::Duration max_delay = absl::Microseconds(2000);  // oldest item's wait
  size_t max_queue = 4096;  // items waiting; more are refused
  int num_workers = 1;      // threads cutting and processing batches
};

// What the batcher asks of its items, all optional.
template <typename Item>
struct BatcherHooks {
  // An item's share of max_batch_tokens (null: 0).
  std::function<size_t(const Item&)> cost;
  // False for items no longer worth computing (deadline passed, client gone);
  // they are taken out when a batch is cut and handed to `drop` instead, so
  // they never take a place in a batch (null: every item is live).
  std::function<bool(const Item&)> is_live;
  std::function<void(std::vector<Item>)> drop;
};

// Groups items from concurrent callers into batches, in the manner of TF
// Serving's batch scheduler and TEI's token budget: a batch is cut when it
// holds max_batch_size items or max_batch_tokens of cost, or when its oldest
// item has waited max_delay. Items keep their arrival order, so the items of
// one request that spans several batches are computed in order. Knows
// nothing of models.
template <typename Item>
class Batcher {
 public:
  using ProcessFn = std::function<void(std::vector<Item>)>;

  Batcher(BatcherOptions options, ProcessFn process,
          BatcherHooks<Item> hooks = {})
      : options_(options),
        process_(std::move(process)),
        hooks_(std::move(hooks)) {
    for (int i = 0; i < std::max(1, options_.num_workers); ++i) {
      workers_.emplace_back([this] { Loop(); });
    }
  }

  // Finishes every queued item, then stops.
  ~Batcher() { Stop(); }

  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues all items or none: RESOURCE_EXHAUSTED when they do not fit,
  // UNAVAILABLE once Stop has begun.
  absl::Status Enqueue(std::vector<Item> items) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("batcher is stopping");
    if (queue_.size() + items.size() > options_.max_queue) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "queue full: ", queue_.size(), " items waiting, ", items.size(),
          " more would pass the limit of ", options_.max_queue));
    }
    const absl::Time now = absl::Now();
    for (auto& item : items) {
      const size_t cost = hooks_.cost ? hooks_.cost(item) : 0;
      queued_cost_ += cost;
      queue_.push_back({std::move(item), now, cost});
    }
    return absl::OkStatus();
  }

  // Refuses new items, computes (or drops) every queued one, and joins the
  // workers. Idempotent; must not be called from a worker.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    absl::MutexLock lock(&join_mu_);
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
  }

  size_t queued() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  struct Entry {
    Item item;
    absl::Time arrival;
    size_t cost;
  };

  bool BatchReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.size() >= options_.max_batch_size ||
           (options_.max_batch_tokens > 0 &&
            queued_cost_ >= options_.max_batch_tokens);
  }

  void Loop() {
    while (true) {
      std::vector<Item> batch;
      std::vector<Item> dropped;
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
                  return b->stopping_ || b->BatchReady();
                },
                this),
            cut);
        // Another worker may have taken the items meanwhile: then `batch`
        // stays empty and the loop waits again.
        size_t tokens = 0;
        while (!queue_.empty() && batch.size() < options_.max_batch_size) {
          Entry& e = queue_.front();
          if (hooks_.is_live && !hooks_.is_live(e.item)) {
            queued_cost_ -= e.cost;
            dropped.push_back(std::move(e.item));
            queue_.pop_front();
            continue;
          }
          if (options_.max_batch_tokens > 0 && !batch.empty() &&
              tokens + e.cost > options_.max_batch_tokens) {
            break;
          }
          tokens += e.cost;
          queued_cost_ -= e.cost;
          batch.push_back(std::move(e.item));
          queue_.pop_front();
        }
      }
      if (!dropped.empty() && hooks_.drop) hooks_.drop(std::move(dropped));
      if (!batch.empty()) process_(std::move(batch));
    }
  }

  const BatcherOptions options_;
  const ProcessFn process_;
  const BatcherHooks<Item> hooks_;
  mutable absl::Mutex mu_;
  std::deque<Entry> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_cost_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_;
  std::vector<std::thread> workers_;  // last: start after the members above
};

}  // namespace beex

#endif  // BEEX_SERVER_BATCHER_H_
