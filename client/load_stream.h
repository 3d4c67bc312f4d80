#ifndef BEEX_CLIENT_LOAD_STREAM_H_
#define BEEX_CLIENT_LOAD_STREAM_H_

// One ClassifyStream or RegressStream of beex-loadgen: requests go out in
// the order sent, one write at a time as gRPC requires, and the server
// answers them in that order, so each answer belongs to the oldest request
// not yet answered.

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace beex::client {

// What the load generator keeps of one answer.
struct StreamAnswer {
  grpc::StatusCode code = grpc::StatusCode::OK;
  int exit_layer_sum = 0;
  int results = 0;
  // The stream ended (or had ended) before an answer came: `code` is its
  // status, and nothing more should be sent on it.
  bool stream_over = false;
};

class LoadStream {
 public:
  using OnAnswer = std::function<void(const StreamAnswer&)>;
  virtual ~LoadStream() = default;
  // Sends the request made from the inputs from `first` on. `on_answer`
  // runs on a gRPC thread with its answer, or with the stream's status if
  // the stream ends before answering it.
  virtual void Send(size_t first, OnAnswer on_answer) = 0;
  // No more sends: the client's side closes once every request is written.
  virtual void Close() = 0;
  // Waits until the stream is over; at `deadline` it cancels the stream
  // (and still waits for gRPC to end it).
  virtual void AwaitDone(absl::Time deadline) = 0;
};

template <typename Request, typename StreamResponse>
class LoadStreamImpl final
    : public LoadStream,
      public grpc::ClientBidiReactor<Request, StreamResponse> {
 public:
  using MakeRequest = std::function<void(size_t first, Request*)>;
  // Starts the stream's RPC on the stub, e.g. stub->async()->ClassifyStream.
  using StartRpc = std::function<void(
      grpc::ClientContext*, grpc::ClientBidiReactor<Request, StreamResponse>*)>;

  LoadStreamImpl(const StartRpc& start, MakeRequest make)
      : make_(std::move(make)) {
    start(&context_, this);
    // Send and Close start writes from outside the reactions: without a
    // hold gRPC may free the call between their check that the stream is
    // still on and the write.
    this->AddHold();
    this->StartRead(&answer_);
    this->StartCall();
  }

  void Send(size_t first, OnAnswer on_answer) override {
    auto request = std::make_unique<Request>();
    make_(first, request.get());
    Request* write = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (!over_) {
        waiting_.push_back(std::move(on_answer));
        unsent_.push_back(std::move(request));
        if (!writing_) {
          writing_ = true;
          current_ = PopUnsentLocked();
          write = current_.get();
          ++starting_;
        }
        on_answer = nullptr;
      }
    }
    if (on_answer) {
      // Over already (the server drained or failed): the stream's status
      // went to the requests it held; this one gets UNAVAILABLE.
      on_answer({grpc::StatusCode::UNAVAILABLE, 0, 0, true});
    } else if (write != nullptr) {
      this->StartWrite(write);
      Started();
    }
  }

  void Close() override {
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      if (writing_ || half_closed_ || over_) return;
      half_closed_ = true;
      ++starting_;
    }
    this->StartWritesDone();
    Started();
  }

  void AwaitDone(absl::Time deadline) override {
    if (!done_->WaitForNotificationWithDeadline(deadline)) {
      context_.TryCancel();
      done_->WaitForNotification();
    }
  }

 private:
  // An operation started from outside the reactions has been handed to
  // gRPC; the last one after the stream is over lets go of the hold.
  void Started() {
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      --starting_;
      release = ReleaseHoldLocked();
    }
    if (release) this->RemoveHold();
  }
  bool ReleaseHoldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!over_ || starting_ > 0 || !held_) return false;
    held_ = false;
    return true;
  }

  std::unique_ptr<Request> PopUnsentLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto next = std::move(unsent_.front());
    unsent_.pop_front();
    return next;
  }

  void OnWriteDone(bool ok) override {
    Request* write = nullptr;
    bool half_close = false;
    {
      absl::MutexLock lock(&mu_);
      current_.reset();
      if (ok && !unsent_.empty()) {
        current_ = PopUnsentLocked();
        write = current_.get();
      } else {
        // A failed write means the stream is over; OnDone answers the rest.
        writing_ = false;
        half_close = ok && closing_ && !half_closed_;
        half_closed_ |= half_close;
      }
    }
    if (write != nullptr) this->StartWrite(write);
    if (half_close) this->StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The stream is over: nothing more starts on it, and once what was
      // being started has been, OnDone may follow.
      bool release = false;
      {
        absl::MutexLock lock(&mu_);
        over_ = true;
        release = ReleaseHoldLocked();
      }
      if (release) this->RemoveHold();
      return;
    }
    StreamAnswer answer;
    answer.code = static_cast<grpc::StatusCode>(answer_.code());
    for (const auto& r : answer_.response().results()) {
      answer.exit_layer_sum += static_cast<int>(r.exit_layer());
      ++answer.results;
    }
    OnAnswer on_answer;
    {
      absl::MutexLock lock(&mu_);
      on_answer = std::move(waiting_.front());
      waiting_.pop_front();
    }
    this->StartRead(&answer_);
    on_answer(answer);
  }

  void OnDone(const grpc::Status& status) override {
    AnswerTheUnanswered(status);
    // The owner may destroy this stream as soon as AwaitDone returns, which
    // can be while this thread is still inside the unlock that woke it: the
    // signal outlives the stream by the copy held here.
    const std::shared_ptr<absl::Notification> done = done_;
    done->Notify();
  }

  void AnswerTheUnanswered(const grpc::Status& status) {
    std::deque<OnAnswer> unanswered;
    {
      absl::MutexLock lock(&mu_);
      over_ = true;
      unanswered.swap(waiting_);
    }
    // A stream that ends OK has answered everything; one that ends
    // otherwise (a drain, a cancel) leaves its requests with its status.
    const grpc::StatusCode code =
        status.ok() ? grpc::StatusCode::UNKNOWN : status.error_code();
    for (auto& on_answer : unanswered) on_answer({code, 0, 0, true});
  }

  const MakeRequest make_;
  grpc::ClientContext context_;
  StreamResponse answer_;  // read into by gRPC
  absl::Mutex mu_;
  std::deque<OnAnswer> waiting_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<Request>> unsent_ ABSL_GUARDED_BY(mu_);
  // Owned by gRPC while writing_.
  std::unique_ptr<Request> current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool half_closed_ ABSL_GUARDED_BY(mu_) = false;
  // No more operations start: the read side ended.
  bool over_ ABSL_GUARDED_BY(mu_) = false;
  // Operations Send or Close decided to start and have not yet handed to
  // gRPC.
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  bool held_ ABSL_GUARDED_BY(mu_) = true;
  // The stream is over. Its own object, so that signalling it never touches
  // the stream after the owner may have freed it.
  const std::shared_ptr<absl::Notification> done_ =
      std::make_shared<absl::Notification>();
};

}  // namespace beex::client

#endif  // BEEX_CLIENT_LOAD_STREAM_H_
