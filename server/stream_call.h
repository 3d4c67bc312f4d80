#ifndef BEEX_SERVER_STREAM_CALL_H_
#define BEEX_SERVER_STREAM_CALL_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/request_call.h"

namespace beex {

// A stream that a drain can end.
class EndableStream {
 public:
  virtual ~EndableStream() = default;
  // Stops reading; once every request read is answered, ends the stream
  // with `status`.
  virtual void End(const absl::Status& status) = 0;
};

// The open streams of a service. A drain ends them: gRPC's Shutdown would
// otherwise wait for each until the drain deadline and then cancel it, and a
// client streaming through the drain would keep it from going quiet.
class StreamSet {
 public:
  // False once EndAll ran: the stream is to end at once.
  bool Add(const std::shared_ptr<EndableStream>& stream) {
    absl::MutexLock lock(&mu_);
    if (ended_) return false;
    open_[stream.get()] = stream;
    return true;
  }
  void Remove(const EndableStream* stream) {
    absl::MutexLock lock(&mu_);
    open_.erase(stream);
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return open_.size();
  }
  // Ends every open stream with `status`, and every stream added later.
  void EndAll(const absl::Status& status) {
    std::vector<std::shared_ptr<EndableStream>> open;
    {
      absl::MutexLock lock(&mu_);
      ended_ = true;
      for (const auto& [raw, weak] : open_) {
        if (auto s = weak.lock()) open.push_back(std::move(s));
      }
    }
    // Outside the lock: End may run gRPC operations.
    for (const auto& s : open) s->End(status);
  }

 private:
  mutable absl::Mutex mu_;
  std::map<const EndableStream*, std::weak_ptr<EndableStream>> open_
      ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

// One ClassifyStream or RegressStream call. Each request read becomes a
// Message, which goes through validation, tokenizing and the batcher as a
// unary call's request does; answers are written in the order the requests
// were read, one write at a time as gRPC requires.
//
// Flow control: the stream reads on while fewer than `max_pending` requests
// are unanswered or unwritten, then waits for a write, so one client cannot
// hold more than that many requests of memory however fast it sends.
//
// Lifetime: as UnaryCall, the call keeps itself alive until gRPC's OnDone;
// each Message holds the call, and the call holds its unwritten Messages
// until OnDone breaks that cycle.
template <typename Request, typename Response, typename StreamResponse>
class StreamCall final : public EndableStream,
                         public std::enable_shared_from_this<
                             StreamCall<Request, Response, StreamResponse>> {
  struct Key {};  // only Create may construct

 public:
  class Message final : public RequestCall<Response> {
   public:
    Message(std::shared_ptr<StreamCall> stream,
            std::unique_ptr<Request> request)
        : RequestCall<Response>(&response_, stream->deadline_),
          stream_(std::move(stream)),
          request_(std::move(request)) {}

    const Request* request() const { return request_.get(); }
    // Written only before StartQueued, by the task that reads the request.
    Response* response() { return &response_; }

   private:
    friend class StreamCall;

    void Deliver(const grpc::Status&) override { stream_->Pump(); }

    // The answer, once the request is finished.
    bool TakeAnswer(StreamResponse* out) {
      absl::MutexLock lock(&this->mu_);
      if (!this->finished_) return false;
      out->Clear();
      out->set_code(static_cast<int>(this->final_.code()));
      out->set_error_message(std::string(this->final_.message()));
      if (this->final_.ok()) out->mutable_response()->Swap(&response_);
      return true;
    }

    Response response_;
    const std::shared_ptr<StreamCall> stream_;
    const std::unique_ptr<Request> request_;
  };

  // Takes each request read, in order, on gRPC's threads.
  using OnRequest = std::function<void(std::shared_ptr<Message>)>;

  static std::shared_ptr<StreamCall> Create(
      grpc::CallbackServerContext* context, size_t max_pending,
      StreamSet* streams, OnRequest on_request) {
    auto call = std::make_shared<StreamCall>(Key{}, context, max_pending,
                                             streams, std::move(on_request));
    bool open;
    {
      absl::MutexLock lock(&call->mu_);
      call->self_ = call;
      open = streams->Add(call);
      if (open) {
        call->reading_ = true;
      } else {
        call->finish_called_ = true;
      }
    }
    if (open) {
      call->reactor_.StartRead(call->read_buffer_.get());
    } else {
      call->reactor_.Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "the server is draining"));
    }
    return call;
  }

  StreamCall(Key, grpc::CallbackServerContext* context, size_t max_pending,
             StreamSet* streams, OnRequest on_request)
      : deadline_(absl::FromChrono(context->deadline())),
        max_pending_(std::max<size_t>(1, max_pending)),
        streams_(streams),
        on_request_(std::move(on_request)),
        read_buffer_(std::make_unique<Request>()),
        reactor_(this) {}

  grpc::ServerBidiReactor<Request, StreamResponse>* reactor() {
    return &reactor_;
  }

  void End(const absl::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_ || ending_) return;
      ending_ = true;
      end_status_ = ToGrpc(status);
    }
    Pump();
  }

 private:
  class Reactor final
      : public grpc::ServerBidiReactor<Request, StreamResponse> {
   public:
    explicit Reactor(StreamCall* call) : call_(call) {}
    void OnReadDone(bool ok) override { call_->OnReadDone(ok); }
    void OnWriteDone(bool ok) override { call_->OnWriteDone(ok); }
    void OnCancel() override { call_->OnCancel(); }
    void OnDone() override { call_->OnDone(); }

   private:
    StreamCall* call_;
  };

  void OnReadDone(bool ok) {
    std::shared_ptr<Message> message;
    bool read_on = false;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!ok) {
        reads_done_ = true;  // the client closed its side, or left
      } else if (!finish_called_ && !cancelled_) {
        // A request read after the stream finished gets no answer; the
        // client sees the stream's status and resends it.
        message = std::make_shared<Message>(this->shared_from_this(),
                                            std::move(read_buffer_));
        read_buffer_ = std::make_unique<Request>();
        pending_.push_back(message);
        read_on = ReadOnLocked();
      }
    }
    if (read_on) reactor_.StartRead(read_buffer_.get());
    if (message) {
      on_request_(std::move(message));
    } else {
      Pump();
    }
  }

  void OnWriteDone(bool ok) {
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
    }
    // A failed write means the client is gone. gRPC may have run OnCancel
    // already, while this write was in flight, where Pump could not finish
    // the stream: pump in any case.
    if (!ok) OnCancel();
    Pump();
  }

  void OnCancel() {
    std::deque<std::shared_ptr<Message>> pending;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      cancelled_ = true;
      cancel_status_ = ToGrpc(CancelStatus(deadline_));
      pending = pending_;
    }
    // Outside the lock: each finishing request pumps the stream.
    for (const auto& m : pending) m->Cancel();
    Pump();
  }

  void OnDone() {
    std::deque<std::shared_ptr<Message>> pending;
    std::shared_ptr<StreamCall> last;
    {
      absl::MutexLock lock(&mu_);
      pending.swap(pending_);
      last = std::move(self_);
    }
    streams_->Remove(this);
    // `last` may be the final owner: the call (and its reactor) is then
    // destroyed on return, which gRPC allows once OnDone runs.
  }

  // Whether to read the next request now: a read resumes when a write makes
  // room (Pump), and stops for good once the stream is ending.
  bool ReadOnLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || reads_done_ || ending_ || finish_called_ || cancelled_ ||
        pending_.size() >= max_pending_) {
      return false;
    }
    reading_ = true;
    return true;
  }

  // Writes the next answer if it is ready and no write is in flight, and
  // finishes the stream when nothing is left to write.
  void Pump() {
    bool write = false, read_on = false, finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_ || write_in_flight_) return;
      if (!cancelled_ && !pending_.empty() &&
          pending_.front()->TakeAnswer(&writing_)) {
        pending_.pop_front();
        write_in_flight_ = write = true;
        read_on = ReadOnLocked();
      } else if (cancelled_ || (pending_.empty() && (reads_done_ || ending_))) {
        finish_called_ = finish = true;
        status = cancelled_ ? cancel_status_
                 : ending_  ? end_status_
                            : grpc::Status::OK;
      }
    }
    if (read_on) reactor_.StartRead(read_buffer_.get());
    if (write) reactor_.StartWrite(&writing_);
    if (finish) reactor_.Finish(status);
  }

  const absl::Time deadline_;
  const size_t max_pending_;
  StreamSet* const streams_;
  const OnRequest on_request_;

  absl::Mutex mu_;
  // Read into by gRPC while reading_; replaced when a read completes.
  std::unique_ptr<Request> read_buffer_;
  // Read and not yet written, in order.
  std::deque<std::shared_ptr<Message>> pending_ ABSL_GUARDED_BY(mu_);
  // Owned by gRPC while write_in_flight_.
  StreamResponse writing_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status cancel_status_ ABSL_GUARDED_BY(mu_);
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<StreamCall> self_ ABSL_GUARDED_BY(mu_);
  Reactor reactor_;
};

}  // namespace beex

#endif  // BEEX_SERVER_STREAM_CALL_H_
