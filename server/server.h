#ifndef BEEX_SERVER_SERVER_H_
#define BEEX_SERVER_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/service.h"

namespace beex {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 50051;  // 0: pick a free port
  // (name, bundle path) pairs.
  std::vector<std::pair<std::string, std::string>> models;
  BatcherOptions batching;
  RequestLimits limits;
};

// Loads and warms the models, then serves them over gRPC.
class BeexServer {
 public:
  static absl::StatusOr<std::unique_ptr<BeexServer>> Start(
      const ServerOptions& options);
  ~BeexServer();

  int port() const { return port_; }
  const ModelRunners& runners() const { return runners_; }

  // Stops accepting calls, lets calls in flight finish within `drain`, then
  // finishes queued work.
  void Shutdown(absl::Duration drain);

  BeexServer(ModelRunners runners, RequestLimits limits)
      : runners_(std::move(runners)), service_(&runners_, limits) {}

 private:
  ModelRunners runners_;
  InferenceService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Parses "NAME=PATH".
absl::StatusOr<std::pair<std::string, std::string>> ParseModelFlag(
    const std::string& flag);

}  // namespace beex

#endif  // BEEX_SERVER_SERVER_H_
