#ifndef BEEX_SERVER_SERVICE_H_
#define BEEX_SERVER_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>

#include "beex/server/wire_requests.pb.h"
#include "beex/v1/inference.grpc.pb.h"
#include "server/access_log.h"
#include "server/beex_metrics.h"
#include "server/call_tracker.h"
#include "server/inflight_budget.h"
#include "server/model_registry.h"
#include "server/stream_call.h"
#include "server/validation.h"
#include "server/work_pool.h"

namespace beex {

// What the service works with; none of it is owned.
struct ServiceDeps {
  const ModelRegistry* registry = nullptr;
  RequestLimits limits;
  // Validates and tokenizes requests (see work_pool.h for why not on gRPC's
  // threads).
  WorkPool* pool = nullptr;
  // Bytes of the Classify and Regress requests being served; may be null.
  InflightBudget* inflight = nullptr;
  // False while models load and from the start of a drain: inference calls
  // then get UNAVAILABLE.
  const std::atomic<bool>* serving = nullptr;
  BeexMetrics* metrics = nullptr;   // may be null
  AccessLog* access_log = nullptr;  // may be null
  // Told of every call's arrival and finish, for the drain; may be null.
  // A request on a stream counts as a call of its own.
  CallTracker* calls = nullptr;
  // Requests of one stream read and not yet answered before the stream
  // stops reading (see stream_call.h).
  size_t max_stream_pending = 128;
};

// The beex.v1.Inference service on gRPC's callback API. A handler only
// checks that the server is serving and hands the request to the pool; a
// pool thread validates and tokenizes it and queues its inputs; the model's
// worker completes the call. No gRPC thread waits on tokenizing or compute.
// Each request on a ClassifyStream or RegressStream goes the same way.
//
// Classify and Regress take the wire twins of their requests
// (server/proto/beex/server/wire_requests.proto) so that invalid UTF-8 reaches
// validation instead of failing in protobuf's parser.
class InferenceService final : public v1::Inference::CallbackService {
 public:
  explicit InferenceService(ServiceDeps deps);

  // Ends every open stream, and every one opened later, with UNAVAILABLE
  // once the requests it read are answered: the start of a drain.
  void EndStreams();
  size_t open_streams() const { return streams_.size(); }

  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;

 private:
  grpc::ServerUnaryReactor* HandleClassify(
      grpc::CallbackServerContext* context,
      const server::wire::ClassifyRequest* request,
      v1::ClassifyResponse* response);
  grpc::ServerUnaryReactor* HandleRegress(
      grpc::CallbackServerContext* context,
      const server::wire::RegressRequest* request,
      v1::RegressResponse* response);

  // Answers a call handled inline, with its metrics and access log line.
  grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                      const char* method,
                                      const std::string& model,
                                      const absl::Status& status,
                                      absl::Time start);

  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const Request* request, Response* response,
                                    Task task);
  template <typename Request, typename Response, typename StreamResponse>
  grpc::ServerBidiReactor<Request, StreamResponse>* PredictStream(
      grpc::CallbackServerContext* context, Task task);
  // Admits one request (a unary call's or one read from a stream), hands it
  // to the pool and, through `call`, to the model's batcher.
  template <typename Call, typename Request, typename Response>
  void Serve(const std::shared_ptr<Call>& call, const char* method,
             std::string peer, const Request* request, Response* response,
             Task task);

  const ServiceDeps deps_;
  StreamSet streams_;
};

// The ModelInfo message of a loaded model and how it is batched.
v1::ModelInfo DescribeModel(const ModelRunner& runner);

}  // namespace beex

#endif  // BEEX_SERVER_SERVICE_H_
