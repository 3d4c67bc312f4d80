#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/compute_threads.h"

namespace beex {
namespace {

constexpr char kServiceName[] = "beex.v1.Inference";

// Forwards what the model runners report to the Prometheus metrics.
class MetricsObserver final : public RunnerObserver {
 public:
  explicit MetricsObserver(BeexMetrics* metrics) : metrics_(metrics) {}

  void OnBatch(const ModelSpec& model, size_t tokens,
               std::span<const Prediction> predictions,
               std::span<const ItemTiming> timings) override {
    int64_t compute_us = 0;
    for (const ItemTiming& t : timings) {
      metrics_->RecordQueue(model.name, t.queue_us * 1e-6);
      compute_us = std::max(compute_us, t.compute_us);
    }
    metrics_->RecordBatch(model.name, static_cast<int>(predictions.size()),
                          static_cast<int>(tokens), compute_us * 1e-6);
    for (const Prediction& p : predictions) {
      metrics_->RecordExit(model.name, p.exit_layer, model.num_layers);
    }
  }

  void OnDropped(const ModelSpec& model, absl::StatusCode code,
                 size_t requests) override {
    const char* reason = code == absl::StatusCode::kDeadlineExceeded
                             ? "deadline"
                         : code == absl::StatusCode::kCancelled ? "cancelled"
                                                                : "error";
    for (size_t i = 0; i < requests; ++i) {
      metrics_->RecordDropped(model.name, reason);
    }
  }

 private:
  BeexMetrics* metrics_;
};

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the TLS ", what, " file ", path));
  }
  std::stringstream s;
  s << in.rdbuf();
  if (s.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the TLS ", what, " file ", path, " is not PEM"));
  }
  return s.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const TransportOptions& t) {
  if (t.tls_cert_path.empty() && t.tls_key_path.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (t.tls_cert_path.empty() || t.tls_key_path.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate and a key (--tls_cert, --tls_key)");
  }
  auto cert = ReadPem(t.tls_cert_path, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(t.tls_key_path, "key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(ssl);
}

void ApplyTransport(const TransportOptions& t, grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(t.max_receive_message_bytes);
  if (t.keepalive_time_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, t.keepalive_time_ms);
  }
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             t.keepalive_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                             t.permit_keepalive_without_calls ? 1 : 0);
  if (t.min_client_ping_interval_ms > 0) {
    builder.AddChannelArgument(
        GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
        t.min_client_ping_interval_ms);
  }
  if (t.max_connection_age_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               t.max_connection_age_ms);
  }
  if (t.max_concurrent_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               t.max_concurrent_streams);
  }
  if (t.memory_bytes > 0) {
    grpc::ResourceQuota quota("beex-transport");
    quota.Resize(t.memory_bytes);
    builder.SetResourceQuota(quota);
  }
}

}  // namespace

BeexServer::BeexServer(Private, const ServerOptions& options,
                       std::unique_ptr<BeexMetrics> metrics)
    : options_(options), metrics_(std::move(metrics)) {
  if (options_.access_log_per_second > 0) {
    access_log_ = std::make_unique<AccessLog>(options_.access_log_per_second);
  }
  observer_ = std::make_unique<MetricsObserver>(metrics_.get());
  RunnerOptions runner;
  runner.batching = options_.batching;
  runner.observer = observer_.get();
  runner.before_batch = options_.before_batch;
  registry_ = std::make_unique<ModelRegistry>(runner);
  const int threads = options_.tokenizer_threads > 0
                          ? options_.tokenizer_threads
                          : std::max(2, UsableCores());
  pool_ = std::make_unique<WorkPool>(threads, options_.max_pending_requests);
  ServiceDeps deps;
  deps.registry = registry_.get();
  deps.limits = options_.limits;
  deps.pool = pool_.get();
  deps.inflight = &inflight_;
  deps.serving = &serving_;
  deps.metrics = metrics_.get();
  deps.access_log = access_log_.get();
  deps.calls = &calls_;
  deps.max_stream_pending = options_.max_stream_pending;
  service_ = std::make_unique<InferenceService>(deps);
}

absl::StatusOr<std::unique_ptr<BeexServer>> BeexServer::Create(
    const ServerOptions& options) {
  if (options.models.empty()) {
    return absl::InvalidArgumentError("no model given (--model NAME=PATH)");
  }
  for (size_t i = 0; i < options.models.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (options.models[i].name == options.models[j].name) {
        return absl::InvalidArgumentError(absl::StrCat(
            "model name '", options.models[i].name, "' given twice"));
      }
    }
  }
  for (const ModelConfig& model : options.models) {
    const size_t max_queue = model.batching.Over(options.batching).max_queue;
    if (options.limits.max_inputs > max_queue) {
      // Such a request could never be queued, all or none.
      return absl::InvalidArgumentError(
          absl::StrCat("--max_inputs (", options.limits.max_inputs,
                       ") must not exceed --max_queue (", max_queue,
                       ") of model ", model.name));
    }
  }
  auto credentials = Credentials(options.transport);
  if (!credentials.ok()) return credentials.status();
  auto metrics = BeexMetrics::Create();
  if (!metrics.ok()) return metrics.status();
  auto server =
      std::make_unique<BeexServer>(Private(), options, *std::move(metrics));

  // Both are process-wide switches that take effect for servers built
  // afterwards.
  grpc::EnableDefaultHealthCheckService(true);
  if (options.transport.reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(options.host, ":", options.port),
                           *credentials, &server->port_);
  ApplyTransport(options.transport, builder);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port));
  }
  server->SetServing(false);

  if (options.metrics_port >= 0) {
    HttpServer::Handlers handlers;
    BeexServer* s = server.get();
    handlers.metrics = [s] { return s->RenderMetrics(); };
    handlers.ready = [s] { return s->serving(); };
    auto http = HttpServer::Start(options.host, options.metrics_port,
                                  std::move(handlers));
    if (!http.ok()) return http.status();
    server->http_ = *std::move(http);
  }
  return server;
}

absl::StatusOr<std::unique_ptr<BeexServer>> BeexServer::Start(
    const ServerOptions& options) {
  auto server = Create(options);
  if (!server.ok()) return server.status();
  if (auto s = (*server)->LoadModels(); !s.ok()) return s;
  return server;
}

absl::Status BeexServer::LoadModels() {
  for (const ModelConfig& m : options_.models) {
    if (auto s =
            registry_->Load(m.name, m.path, m.batching.Over(options_.batching));
        !s.ok()) {
      return s;
    }
    metrics_->RegisterModel(m.name,
                            registry_->Get(m.name)->model().spec().num_layers);
  }
  SetServing(true);
  return absl::OkStatus();
}

absl::Status BeexServer::Reload() {
  spdlog::info("reloading {} model(s)", registry_->size());
  const absl::Status s = registry_->ReloadAll();
  for (const auto& runner : registry_->All()) {
    const ModelSpec& spec = runner->model().spec();
    metrics_->RegisterModel(spec.name, spec.num_layers);
  }
  return s;
}

void BeexServer::SetServing(bool serving) {
  serving_.store(serving);
  if (server_ != nullptr) {
    grpc::HealthCheckServiceInterface* health =
        server_->GetHealthCheckService();
    if (health != nullptr) {
      health->SetServingStatus(serving);  // "" and every service
      health->SetServingStatus(kServiceName, serving);
    }
  }
}

std::string BeexServer::RenderMetrics() {
  // Queue depths and open streams are read when scraped rather than kept up
  // to date on every change.
  for (const auto& runner : registry_->All()) {
    metrics_->SetQueueDepth(runner->model().spec().name,
                            static_cast<double>(runner->queued()));
  }
  metrics_->SetOpenStreams(static_cast<double>(service_->open_streams()));
  return metrics_->Render();
}

void BeexServer::Shutdown(absl::Duration drain) {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  SetServing(false);
  service_->EndStreams();
  const absl::Time deadline = absl::Now() + drain;
  if (!calls_.AwaitQuiet(options_.drain_quiet, deadline)) {
    spdlog::warn(
        "drain: calls were still arriving or in flight at the deadline; "
        "gRPC cancels what is left");
  }
  if (server_ != nullptr) {
    // Calls in flight keep the pool and the workers, which run until it
    // returns. At the deadline gRPC cancels what is left, and each call's
    // OnCancel finishes it.
    server_->Shutdown(absl::ToChronoTime(deadline));
    server_->Wait();
  }
  pool_->Stop();
  registry_->StopAll();  // queued inputs of cancelled calls are dropped
  if (http_ != nullptr) http_->Stop();
}

BeexServer::~BeexServer() {
  Shutdown(absl::Seconds(5));
  // The gRPC server goes before the service it calls into.
  server_.reset();
}

}  // namespace beex
