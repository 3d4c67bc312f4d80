#ifndef BEEX_SERVER_SERVICE_H_
#define BEEX_SERVER_SERVICE_H_

#include <map>
#include <memory>
#include <string>

#include "beex/server/wire_requests.pb.h"
#include "beex/v1/inference.grpc.pb.h"
#include "server/model_runner.h"
#include "server/validation.h"

namespace beex {

using ModelRunners = std::map<std::string, std::unique_ptr<ModelRunner>>;

// The beex.v1.Inference service on gRPC's callback API: handlers validate
// and tokenize on the gRPC thread, queue the inputs, and return at once; the
// model's worker completes the call. No handler blocks on compute.
//
// Classify and Regress take the wire twins of their requests
// (server/proto/beex/server/wire_requests.proto) so that invalid UTF-8 reaches
// validation instead of failing in protobuf's parser.
class InferenceService final : public v1::Inference::CallbackService {
 public:
  InferenceService(const ModelRunners* runners, RequestLimits limits);

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

  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const Request* request, Response* response,
                                    Task task);

  const ModelRunners* runners_;
  RequestLimits limits_;
};

// The ModelInfo message of a loaded model.
v1::ModelInfo DescribeModel(const ModelSpec& spec);

}  // namespace beex

#endif  // BEEX_SERVER_SERVICE_H_
