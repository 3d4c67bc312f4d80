#ifndef BEEX_SERVER_UNARY_CALL_H_
#define BEEX_SERVER_UNARY_CALL_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
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

// One Classify or Regress call, from the handler to gRPC's OnDone.
//
// Lifetime: gRPC owns the reactor until OnDone; the batcher's work items and
// the tokenizing task hold the call by shared_ptr and may outlive OnDone (a
// call cancelled by its client, its deadline or a shutdown whose drain
// deadline passed). So the reactor lives inside the call, the call keeps
// itself alive until OnDone, and every touch of the response happens under
// the call's lock and only while the call is unfinished: a late Complete()
// on a call that is already over does nothing.
template <typename Response>
class UnaryCall final : public PendingRequest {
  struct Key {};  // only Create may construct

 public:
  // Writes one prediction into the response (result `index` exists).
  using FillFn = std::function<void(Response*, size_t index, const Prediction&,
                                    const ItemTiming&)>;
  // Told the final status once, when the call finishes.
  using FinishFn = std::function<void(const grpc::Status&)>;

  static std::shared_ptr<UnaryCall> Create(grpc::CallbackServerContext* context,
                                           Response* response,
                                           FinishFn on_finish) {
    auto call = std::make_shared<UnaryCall>(Key{}, context, response,
                                            std::move(on_finish));
    absl::MutexLock lock(&call->mu_);
    call->self_ = call;
    return call;
  }

  UnaryCall(Key, grpc::CallbackServerContext* context, Response* response,
            FinishFn on_finish)
      : response_(response),
        on_finish_(std::move(on_finish)),
        arrival_(absl::Now()),
        deadline_(absl::FromChrono(context->deadline())),
        reactor_(this) {}

  grpc::ServerUnaryReactor* reactor() { return &reactor_; }

  // Called by the task that reads the request when it will read it no
  // more: makes `inputs` result slots, each to be written by `fill`. From
  // here on a cancel finishes the call at once. False when the call ended
  // meanwhile (the client left): then the caller must not queue it.
  bool StartQueued(size_t inputs, FillFn fill) {
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return false;
      if (cancelled_) {
        finish = Conclude(CancelStatus());
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
      // Dropping the rest of a call that ended early (cancelled, expired,
      // failed) is counted under the reason it ended.
      return final_.ok() ? absl::CancelledError("call already answered")
                         : final_;
    }
    if (cancelled_) return CancelStatus();
    if (absl::Now() >= deadline_) {
      return absl::DeadlineExceededError("deadline passed while queued");
    }
    return absl::OkStatus();
  }

  void Fail(const absl::Status& status) override { Finish(status); }

  // Finishes the call with `status` unless it is finished already.
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

 private:
  class Reactor final : public grpc::ServerUnaryReactor {
   public:
    explicit Reactor(UnaryCall* call) : call_(call) {}
    void OnCancel() override { call_->OnCancel(); }
    void OnDone() override { call_->OnDone(); }

   private:
    UnaryCall* call_;
  };

  absl::Status CancelStatus() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // gRPC cancels a call whose deadline passed as well as one whose client
    // left; tell them apart for the metrics. The client's own timer usually
    // fires first (the server's deadline is the client's plus the time the
    // request took to arrive) and its cancel arrives a little before the
    // server's deadline: a cancel that close to the deadline is the deadline.
    if (absl::Now() >= deadline_ - kDeadlineSlack) {
      return absl::DeadlineExceededError("deadline passed");
    }
    return absl::CancelledError("client cancelled the call");
  }

  // Marks the call finished and fills in total times; the caller calls
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
    reactor_.Finish(status);
  }

  void OnCancel() {
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      // While the request is still being read, the reading task finishes
      // the call (StartQueued); finishing here would let gRPC free the
      // request under it.
      if (finished_ || !queued_) return;
      finish = Conclude(CancelStatus());
    }
    FinishNow(finish);
  }

  void OnDone() {
    std::shared_ptr<UnaryCall> last;
    {
      absl::MutexLock lock(&mu_);
      response_ = nullptr;  // gRPC frees it after this reaction
      last = std::move(self_);
    }
    // `last` may be the final owner: this call (and its reactor) is then
    // destroyed on return, which gRPC allows once OnDone runs.
  }

  static constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(100);

  mutable absl::Mutex mu_;
  Response* response_ ABSL_GUARDED_BY(mu_);
  FillFn fill_ ABSL_GUARDED_BY(mu_);
  const FinishFn on_finish_;
  const absl::Time arrival_;
  const absl::Time deadline_;
  size_t remaining_ ABSL_GUARDED_BY(mu_) = 0;
  bool queued_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<UnaryCall> self_ ABSL_GUARDED_BY(mu_);
  Reactor reactor_;
};

}  // namespace beex

#endif  // BEEX_SERVER_UNARY_CALL_H_
