#ifndef BEEX_SERVER_BEEX_METRICS_H_
#define BEEX_SERVER_BEEX_METRICS_H_

// The metrics beex-server exports, one call per event. Thread-safe.
//
// Model labels come from RegisterModel only: a request for a model that is
// not served (NOT_FOUND) is counted under model="(unknown)", so clients cannot
// grow the number of series by sending made-up names. Calls about no model
// (ListModels) pass "" and get model="".

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/metrics.h"

namespace beex {

class BeexMetrics {
  // Only Create makes one, so none exists with its families missing.
  struct Private {
    explicit Private() = default;
  };

 public:
  static constexpr char kUnknownModel[] = "(unknown)";

  static absl::StatusOr<std::unique_ptr<BeexMetrics>> Create();
  explicit BeexMetrics(Private) {}

  // Creates the model's series (so they read 0 before the first request)
  // and its exit-layer histogram with one bucket per layer, le="1".."L".
  void RegisterModel(std::string_view model, int num_layers);

  // One finished RPC. `method` is the RPC name ("Classify", ...); `code` a
  // gRPC status code number (grpc::StatusCode), written as its name ("OK",
  // "INVALID_ARGUMENT", ...). `seconds`: from the handler's start to the
  // reply.
  void RecordRequest(std::string_view model, std::string_view method, int code,
                     double seconds);
  // Time one request waited in its model's queue before its batch started.
  void RecordQueue(std::string_view model, double seconds);
  // One batch run by the engine: inputs, real tokens, engine wall time.
  void RecordBatch(std::string_view model, int size, int tokens,
                   double compute_seconds);
  // One input left the network at `exit_layer` (1-based) of `num_layers`;
  // adds 1 - exit_layer / num_layers to the block FLOPs saved.
  void RecordExit(std::string_view model, int exit_layer, int num_layers);
  // A request dropped before compute; reason is one of a fixed set, e.g.
  // "queue_full", "inflight_bytes", "deadline", "cancelled", "draining".
  void RecordDropped(std::string_view model, std::string_view reason);

  void SetQueueDepth(std::string_view model, double depth);
  // +1 when a Classify/Regress call starts, -1 when it is answered.
  void AddInflight(std::string_view model, double delta);
  // ClassifyStream and RegressStream calls open (a stream may carry
  // requests for several models, so the gauge has no model label).
  void SetOpenStreams(double streams);

  std::string Render() const { return registry_.Render(); }
  const metrics::Registry& registry() const { return registry_; }

 private:
  absl::Status Init();
  // The model's label value: itself when registered, else kUnknownModel.
  std::string_view ModelLabel(std::string_view model) const;

  metrics::Registry registry_;
  metrics::CounterFamily* requests_ = nullptr;
  metrics::HistogramFamily* request_duration_ = nullptr;
  metrics::HistogramFamily* queue_duration_ = nullptr;
  metrics::HistogramFamily* compute_duration_ = nullptr;
  metrics::HistogramFamily* batch_size_ = nullptr;
  metrics::HistogramFamily* batch_tokens_ = nullptr;
  metrics::GaugeFamily* queue_depth_ = nullptr;
  metrics::GaugeFamily* inflight_ = nullptr;
  metrics::GaugeFamily* open_streams_ = nullptr;
  metrics::HistogramFamily* exit_layer_ = nullptr;
  metrics::CounterFamily* flops_saved_ = nullptr;
  metrics::CounterFamily* dropped_ = nullptr;

  mutable absl::Mutex mu_;
  std::set<std::string, std::less<>> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace beex

#endif  // BEEX_SERVER_BEEX_METRICS_H_
