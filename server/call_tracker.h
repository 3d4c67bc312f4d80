#ifndef BEEX_SERVER_CALL_TRACKER_H_
#define BEEX_SERVER_CALL_TRACKER_H_

#include <algorithm>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace beex {

// Counts the service's calls in flight and their arrivals, so that a drain
// can wait until clients have gone elsewhere before gRPC shuts down.
//
// Why: gRPC's Server::Shutdown (1.51) refuses calls at once, but a call
// whose headers reach the server after Shutdown started and before its GOAWAY
// reaches the client is cancelled, and the client sees CANCELLED, a code no
// client retries. A draining server instead keeps answering UNAVAILABLE
// (which clients and balancers retry elsewhere) until calls stop arriving.
class CallTracker {
 public:
  void Arrived() {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
    ++arrivals_;
    last_arrival_ = absl::Now();
  }
  void Finished() {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }

  // Waits until no call is in flight and none has arrived for `quiet`. False
  // when `deadline` comes first.
  bool AwaitQuiet(absl::Duration quiet, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    while (true) {
      if (!mu_.AwaitWithDeadline(absl::Condition(this, &CallTracker::Idle),
                                 deadline)) {
        return false;
      }
      const absl::Time quiet_at = last_arrival_ + quiet;
      if (absl::Now() >= quiet_at) return true;
      const int64_t seen = arrivals_;
      auto arrived = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return arrivals_ != seen;
      };
      mu_.AwaitWithDeadline(absl::Condition(&arrived),
                            std::min(quiet_at, deadline));
      if (absl::Now() >= deadline) return false;
    }
  }

 private:
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ == 0;
  }

  absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t arrivals_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_arrival_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace beex

#endif  // BEEX_SERVER_CALL_TRACKER_H_
