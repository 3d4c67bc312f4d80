#ifndef BEEX_SERVER_WORK_POOL_H_
#define BEEX_SERVER_WORK_POOL_H_

#include <algorithm>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace beex {

// A fixed set of threads running short tasks from a bounded queue. The
// service validates and tokenizes requests here rather than on gRPC's
// callback threads: gRPC 1.51 runs every callback reaction of the process on
// max(2, cores / 2) threads, so tokenizing long texts there would hold up
// accepting calls and sending replies (TEI keeps tokenization in a pool of
// its own for the same reason).
class WorkPool {
 public:
  WorkPool(int threads, size_t max_pending) : max_pending_(max_pending) {
    for (int i = 0; i < std::max(1, threads); ++i) {
      threads_.emplace_back([this] { Loop(); });
    }
  }
  ~WorkPool() { Stop(); }

  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // False, without running it, when max_pending tasks wait already or the
  // pool is stopping.
  bool TrySchedule(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    if (stopping_ || tasks_.size() >= max_pending_) return false;
    tasks_.push_back(std::move(task));
    return true;
  }

  // Runs the tasks already scheduled, then joins. Idempotent; not from a
  // pool thread.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    absl::MutexLock lock(&join_mu_);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  size_t max_pending() const { return max_pending_; }
  size_t pending() const {
    absl::MutexLock lock(&mu_);
    return tasks_.size();
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](WorkPool* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return p->stopping_ || !p->tasks_.empty();
            },
            this));
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  const size_t max_pending_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_;
  std::vector<std::thread> threads_;
};

}  // namespace beex

#endif  // BEEX_SERVER_WORK_POOL_H_
