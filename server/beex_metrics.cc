#include "server/beex_metrics.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace beex {
namespace {

// A binarized encoder answers in well under a millisecond to tens of
// milliseconds; the tail goes to seconds when queues fill.
std::vector<double> DurationBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> PowersOfTwo(double from, double to) {
  std::vector<double> out;
  for (double v = from; v <= to; v *= 2) out.push_back(v);
  return out;
}

std::vector<double> LayerBounds(int num_layers) {
  std::vector<double> out;
  for (int l = 1; l <= num_layers; ++l) out.push_back(l);
  return out;
}

// gRPC's status codes are Abseil's, number for number.
std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

absl::StatusOr<std::unique_ptr<BeexMetrics>> BeexMetrics::Create() {
  auto m = std::make_unique<BeexMetrics>(Private{});
  if (absl::Status s = m->Init(); !s.ok()) return s;
  return m;
}

absl::Status BeexMetrics::Init() {
  metrics::Registry& r = registry_;
  auto assign = [](auto& field, auto family) -> absl::Status {
    if (!family.ok()) return family.status();
    field = *family;
    return absl::OkStatus();
  };
  const absl::Status statuses[] = {
      assign(requests_,
             r.AddCounter("beex_requests_total",
                          "RPCs answered, by model, method and gRPC status "
                          "code.",
                          {"model", "method", "code"})),
      assign(request_duration_,
             r.AddHistogram("beex_request_duration_seconds",
                            "Time from an RPC's arrival to its reply.",
                            {"model", "method"}, DurationBounds())),
      assign(queue_duration_,
             r.AddHistogram("beex_queue_duration_seconds",
                            "Time a request waited in its model's queue "
                            "before its batch started.",
                            {"model"}, DurationBounds())),
      assign(compute_duration_, r.AddHistogram("beex_compute_duration_seconds",
                                               "Engine wall time of one batch.",
                                               {"model"}, DurationBounds())),
      assign(batch_size_, r.AddHistogram("beex_batch_size", "Inputs per batch.",
                                         {"model"}, PowersOfTwo(1, 1024))),
      assign(batch_tokens_, r.AddHistogram("beex_batch_tokens",
                                           "Real (unpadded) tokens per batch.",
                                           {"model"}, PowersOfTwo(16, 65536))),
      assign(queue_depth_,
             r.AddGauge("beex_queue_depth",
                        "Inputs waiting in the model's queue.", {"model"})),
      assign(inflight_,
             r.AddGauge("beex_inflight_requests",
                        "Classify and Regress RPCs started and not yet "
                        "answered.",
                        {"model"})),
      assign(open_streams_,
             r.AddGauge("beex_open_streams",
                        "ClassifyStream and RegressStream calls open.", {})),
      assign(exit_layer_,
             r.AddHistogram("beex_exit_layer",
                            "Block (1-based) at which each input left the "
                            "network; one bucket per block.",
                            {"model"}, {})),
      assign(flops_saved_,
             r.AddCounter("beex_block_flops_saved_total",
                          "Sum over inputs of the share of block FLOPs "
                          "skipped, 1 - exit_layer / layers; divided by "
                          "beex_exit_layer_count it is the mean share saved.",
                          {"model"})),
      assign(dropped_,
             r.AddCounter("beex_dropped_requests_total",
                          "Requests dropped before compute, by reason.",
                          {"model", "reason"})),
  };
  for (const absl::Status& s : statuses) {
    if (!s.ok()) return s;
  }
  open_streams_->Get({});  // reads 0 before the first stream
  return absl::OkStatus();
}

void BeexMetrics::RegisterModel(std::string_view model, int num_layers) {
  {
    absl::MutexLock lock(&mu_);
    models_.emplace(model);
  }
  queue_duration_->Get({model});
  compute_duration_->Get({model});
  batch_size_->Get({model});
  batch_tokens_->Get({model});
  queue_depth_->Get({model});
  inflight_->Get({model});
  exit_layer_->Get({model}, LayerBounds(num_layers));
  flops_saved_->Get({model});
}

std::string_view BeexMetrics::ModelLabel(std::string_view model) const {
  if (model.empty()) return model;  // calls about no model, e.g. ListModels
  absl::ReaderMutexLock lock(&mu_);
  return models_.find(model) != models_.end() ? model : kUnknownModel;
}

void BeexMetrics::RecordRequest(std::string_view model, std::string_view method,
                                int code, double seconds) {
  const std::string_view m = ModelLabel(model);
  requests_->Get({m, method, CodeName(code)}).Inc();
  request_duration_->Get({m, method}).Observe(seconds);
}

void BeexMetrics::RecordQueue(std::string_view model, double seconds) {
  queue_duration_->Get({ModelLabel(model)}).Observe(seconds);
}

void BeexMetrics::RecordBatch(std::string_view model, int size, int tokens,
                              double compute_seconds) {
  const std::string_view m = ModelLabel(model);
  batch_size_->Get({m}).Observe(size);
  batch_tokens_->Get({m}).Observe(tokens);
  compute_duration_->Get({m}).Observe(compute_seconds);
}

void BeexMetrics::RecordExit(std::string_view model, int exit_layer,
                             int num_layers) {
  if (num_layers <= 0) return;
  const std::string_view m = ModelLabel(model);
  exit_layer_->Get({m}, LayerBounds(num_layers)).Observe(exit_layer);
  const int layer = std::clamp(exit_layer, 1, num_layers);
  flops_saved_->Get({m}).Inc(1.0 - static_cast<double>(layer) / num_layers);
}

void BeexMetrics::RecordDropped(std::string_view model,
                                std::string_view reason) {
  dropped_->Get({ModelLabel(model), reason}).Inc();
}

void BeexMetrics::SetQueueDepth(std::string_view model, double depth) {
  queue_depth_->Get({ModelLabel(model)}).Set(depth);
}

void BeexMetrics::AddInflight(std::string_view model, double delta) {
  inflight_->Get({ModelLabel(model)}).Add(delta);
}

void BeexMetrics::SetOpenStreams(double streams) {
  open_streams_->Get({}).Set(streams);
}

}  // namespace beex
