#ifndef BEEX_SERVER_UNARY_CALL_H_
#define BEEX_SERVER_UNARY_CALL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/request_call.h"

namespace beex {

// One Classify or Regress call, from the handler to gRPC's OnDone.
//
// Lifetime: gRPC owns the reactor until OnDone, and the response until
// then; the request state (request_call.h) may outlive OnDone. So the
// reactor lives inside the call, the call keeps itself alive until OnDone,
// and OnDone takes the response away from any late Complete().
template <typename Response>
class UnaryCall final : public RequestCall<Response> {
  struct Key {};  // only Create may construct

 public:
  static std::shared_ptr<UnaryCall> Create(grpc::CallbackServerContext* context,
                                           Response* response) {
    auto call = std::make_shared<UnaryCall>(Key{}, context, response);
    absl::MutexLock lock(&call->mu_);
    call->self_ = call;
    return call;
  }

  UnaryCall(Key, grpc::CallbackServerContext* context, Response* response)
      : RequestCall<Response>(response, absl::FromChrono(context->deadline())),
        reactor_(this) {}

  grpc::ServerUnaryReactor* reactor() { return &reactor_; }

 private:
  class Reactor final : public grpc::ServerUnaryReactor {
   public:
    explicit Reactor(UnaryCall* call) : call_(call) {}
    void OnCancel() override { call_->Cancel(); }
    void OnDone() override { call_->OnDone(); }

   private:
    UnaryCall* call_;
  };

  void Deliver(const grpc::Status& status) override { reactor_.Finish(status); }

  void OnDone() {
    std::shared_ptr<UnaryCall> last;
    {
      absl::MutexLock lock(&this->mu_);
      this->response_ = nullptr;  // gRPC frees it after this reaction
      last = std::move(self_);
    }
    // `last` may be the final owner: this call (and its reactor) is then
    // destroyed on return, which gRPC allows once OnDone runs.
  }

  std::shared_ptr<UnaryCall> self_;  // guarded by mu_
  Reactor reactor_;
};

}  // namespace beex

#endif  // BEEX_SERVER_UNARY_CALL_H_
