#ifndef BEEX_SERVER_REQUEST_CALL_H_
#define BEEX_SERVER_REQUEST_CALL_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/model_runner.h"

namespace beex {

inline grpc::Status ToGrpc(const absl::Status& s) {
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

// gRPC cancels a call whose deadline passed as well as one whose client left;
// this tells them apart for the metrics. The client's own timer usually fires
// first (the server's deadline is the client's plus the time the request
// took to arrive) and its cancel arrives a little before the server's
// deadline: a cancel that close to the deadline is the deadline.
inline absl::Status CancelStatus(absl::Time deadline) {
  constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(100);
  if (absl::Now() >= deadline - kDeadlineSlack) {
    return absl::DeadlineExceededError("deadline passed");
  }
  return absl::CancelledError("client cancelled the call");
}

// One Classify or Regress request, from the moment it is read to its final
// status: the part a unary call (unary_call.h) and a request on a stream
// (stream_call.h) share. The batcher's work items and the tokenizing task
// hold it by shared_ptr and may outlive the gRPC call (one cancelled by its
// client, its deadline or a shutdown whose drain deadline passed), so every
// touch of the response happens under the lock and only while the request is
// unfinished: a late Complete() on a request that is over does nothing.
template <typename Response>
class RequestCall : public PendingRequest {
 public:
  // Writes one prediction into the response (result `index` exists).
  using FillFn = std::function<void(Response*, size_t index, const Prediction&,
                                    const ItemTiming&)>;
  // Told the final status once, when the request finishes.
  using FinishFn = std::function<void(const grpc::Status&)>;

  // Set before the request is shared with other threads.
  void OnFinish(FinishFn on_finish) { on_finish_ = std::move(on_finish); }

  // Called by the task that reads the request when it will read it no
  // more: makes `inputs` result slots, each to be written by `fill`. From
  // here on a cancel finishes the request at once. False when the request
  // ended meanwhile (the client left): then the caller must not queue it.
  bool StartQueued(size_t inputs, FillFn fill) {
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return false;
      if (cancelled_) {
        finish = Conclude(CancelStatus(deadline_));
      } else {
        remaining_ = inputs;
        fill_ = std::move(fill);
        for (size_t i = 0; i < inputs; ++i) response_->add_results();
        queued_ = true;
        return true;
      }
    }
    FinishNow(finish);
    return false;
  }

  void Complete(size_t index, const Prediction& prediction,
                const ItemTiming& timing) override {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;  // failed or cancelled meanwhile
      fill_(response_, index, prediction, timing);
      if (--remaining_ > 0) return;
    }
    Finish(absl::OkStatus());
  }

  absl::Status Liveness() const override {
    absl::MutexLock lock(&mu_);
    if (finished_) {
      // Dropping the rest of a request that ended early (cancelled, expired,
      // failed) is counted under the reason it ended.
      return final_.ok() ? absl::CancelledError("call already answered")
                         : final_;
    }
    if (cancelled_) return CancelStatus(deadline_);
    if (absl::Now() >= deadline_) {
      return absl::DeadlineExceededError("deadline passed while queued");
    }
    return absl::OkStatus();
  }

  void Fail(const absl::Status& status) override { Finish(status); }

  // Finishes the request with `status` unless it is finished already.
  void Finish(const absl::Status& status) {
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finish = Conclude(status);
    }
    FinishNow(finish);
  }

  absl::Time arrival() const { return arrival_; }
  absl::Time deadline() const { return deadline_; }

 protected:
  RequestCall(Response* response, absl::Time deadline)
      : response_(response), arrival_(absl::Now()), deadline_(deadline) {}

  // Hands the final status on (to gRPC, or to the stream's writer); called
  // once, without the lock.
  virtual void Deliver(const grpc::Status& status) = 0;

  // The client left or the deadline passed: finishes the request at once
  // unless it is still being read.
  void Cancel() {
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      // While the request is still being read, the reading task finishes
      // it (StartQueued); finishing here would free the request under it.
      if (finished_ || !queued_) return;
      finish = Conclude(CancelStatus(deadline_));
    }
    FinishNow(finish);
  }

  mutable absl::Mutex mu_;
  Response* response_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_ ABSL_GUARDED_BY(mu_);

 private:
  // Marks the request finished and fills in total times; the caller calls
  // FinishNow with the result after releasing the lock, so that no reaction
  // runs under it.
  grpc::Status Conclude(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    final_ = status;
    if (status.ok()) {
      const int64_t total = absl::ToInt64Microseconds(absl::Now() - arrival_);
      for (auto& r : *response_->mutable_results()) {
        r.mutable_timing()->set_total_us(total);
      }
    }
    return ToGrpc(status);
  }

  void FinishNow(const grpc::Status& status) {
    if (on_finish_) on_finish_(status);
    Deliver(status);
  }

  FinishFn on_finish_;
  FillFn fill_ ABSL_GUARDED_BY(mu_);
  const absl::Time arrival_;
  const absl::Time deadline_;
  size_t remaining_ ABSL_GUARDED_BY(mu_) = 0;
  bool queued_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace beex

#endif  // BEEX_SERVER_REQUEST_CALL_H_
