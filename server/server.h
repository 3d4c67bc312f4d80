#ifndef BEEX_SERVER_SERVER_H_
#define BEEX_SERVER_SERVER_H_

#include <grpcpp/server.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/access_log.h"
#include "server/beex_metrics.h"
#include "server/http_server.h"
#include "server/model_config.h"
#include "server/model_registry.h"
#include "server/service.h"
#include "server/work_pool.h"

namespace beex {

// Transport settings, passed to gRPC as channel arguments.
struct TransportOptions {
  // PEM files; both or neither. Neither: plaintext.
  std::string tls_cert_path;
  std::string tls_key_path;
  int max_receive_message_bytes = 4 << 20;
  // Server pings an idle connection after this long (0: gRPC's 2 h) and
  // drops it when the ping is not answered within keepalive_timeout_ms.
  int keepalive_time_ms = 0;
  int keepalive_timeout_ms = 20000;
  // Shortest interval at which clients may ping without data (0: gRPC's
  // 5 min); faster clients get GOAWAY too_many_pings.
  int min_client_ping_interval_ms = 0;
  bool permit_keepalive_without_calls = false;
  // Close connections after this long so that clients re-resolve and spread
  // over new replicas (0: never).
  int max_connection_age_ms = 0;
  // Open calls per connection (0: gRPC's unbounded). Each holds buffers and
  // a flow-control window, so without it one connection's memory has no
  // bound.
  int max_concurrent_streams = 1024;
  // gRPC's ResourceQuota for the transport's buffers (0: none). Requests
  // admitted to the server count against max_inflight_bytes instead.
  size_t memory_bytes = size_t{1024} << 20;
  bool reflection = true;
};

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 50051;  // 0: pick a free port
  std::vector<ModelConfig> models;
  // Every model's batching, but for the settings a model overrides.
  BatcherOptions batching;
  RequestLimits limits;
  TransportOptions transport;
  // Threads that validate and tokenize requests (0: one per core), and the
  // requests that may wait for them before new ones get RESOURCE_EXHAUSTED.
  int tokenizer_threads = 0;
  size_t max_pending_requests = 1024;
  // Bytes of Classify and Regress requests in flight (tokenizing, queued,
  // computing) before new ones get RESOURCE_EXHAUSTED; 0: no limit. See
  // inflight_budget.h.
  size_t max_inflight_bytes = size_t{1024} << 20;
  // Requests of one ClassifyStream or RegressStream read and not yet
  // answered before the server stops reading that stream.
  size_t max_stream_pending = 128;
  // A drain keeps answering UNAVAILABLE until no call has arrived for this
  // long (or the drain deadline), and only then closes gRPC's connections:
  // see call_tracker.h.
  absl::Duration drain_quiet = absl::Milliseconds(500);
  // HTTP port for /metrics, /healthz, /readyz: -1 none, 0 pick a free one.
  int metrics_port = -1;
  // Access log lines per second at most (0: no access log).
  double access_log_per_second = 0;
  // Runs on a model's worker before each batch: for tests that must hold a
  // batch (overload, deadlines, shutdown). Null in production.
  std::function<void(const std::string& model)> before_batch;
};

// A beex server: gRPC (inference, health, reflection) and the HTTP
// operations port, over a registry of models.
//
// Health: grpc.health.v1 reports NOT_SERVING (for "" and beex.v1.Inference)
// until every model is loaded and warmed, and again from the start of a
// drain; /readyz follows it.
class BeexServer {
  struct Private {
    explicit Private() = default;
  };

 public:
  // Listens (gRPC and HTTP) without models: health says NOT_SERVING and
  // inference calls get UNAVAILABLE until LoadModels succeeds.
  static absl::StatusOr<std::unique_ptr<BeexServer>> Create(
      const ServerOptions& options);
  // Create, then LoadModels.
  static absl::StatusOr<std::unique_ptr<BeexServer>> Start(
      const ServerOptions& options);

  BeexServer(Private, const ServerOptions& options,
             std::unique_ptr<BeexMetrics> metrics);
  ~BeexServer();

  // Loads and warms every model of the options, then reports SERVING.
  absl::Status LoadModels();
  // Loads every model again from its path (SIGHUP); calls in flight finish
  // on the version they started on. A model that fails keeps serving its
  // old version, and the status says why.
  absl::Status Reload();

  // Stops accepting work (health NOT_SERVING; new calls get UNAVAILABLE;
  // streams end UNAVAILABLE once the requests they read are answered), lets
  // calls in flight and queued inputs finish within `drain`, waits for calls
  // to stop arriving (options' drain_quiet) before gRPC closes connections,
  // cancels what is left at the deadline, then stops the workers and the
  // HTTP port. Idempotent.
  void Shutdown(absl::Duration drain);

  int port() const { return port_; }
  int metrics_port() const { return http_ ? http_->port() : -1; }
  bool serving() const { return serving_.load(); }
  ModelRegistry& registry() { return *registry_; }
  BeexMetrics& metrics() { return *metrics_; }
  // The runner of a loaded model, or null.
  std::shared_ptr<ModelRunner> runner(const std::string& name) const {
    return registry_->Get(name);
  }

 private:
  void SetServing(bool serving);
  std::string RenderMetrics();

  const ServerOptions options_;
  std::unique_ptr<BeexMetrics> metrics_;
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<RunnerObserver> observer_;
  std::unique_ptr<ModelRegistry> registry_;
  std::unique_ptr<WorkPool> pool_;
  InflightBudget inflight_{options_.max_inflight_bytes};
  std::atomic<bool> serving_{false};
  CallTracker calls_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  int port_ = 0;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace beex

#endif  // BEEX_SERVER_SERVER_H_
