#ifndef BEEX_SERVER_MODEL_RUNNER_H_
#define BEEX_SERVER_MODEL_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/model.h"
#include "server/batcher.h"

namespace beex {

struct ItemTiming {
  int64_t queue_us = 0;    // arrival to batch start
  int64_t compute_us = 0;  // batch start to this item's result
};

// One RPC's worth of inputs waiting for results. The service implements it
// over a gRPC reactor; the runner knows nothing of gRPC.
class PendingRequest {
 public:
  virtual ~PendingRequest() = default;
  // Called once per input, from a worker thread of the model.
  virtual void Complete(size_t index, const Prediction& prediction,
                        const ItemTiming& timing) = 0;
  // OK while the request is worth computing; otherwise why not
  // (DEADLINE_EXCEEDED, CANCELLED, or the error it already failed with).
  virtual absl::Status Liveness() const { return absl::OkStatus(); }
  // Ends the request with `status` (its items were dropped before compute,
  // or their batch failed).
  // Called once per dropped batch of its items; only the first call counts.
  virtual void Fail(const absl::Status& status) { (void)status; }
};

// What a runner reports as it works, for metrics. Called on worker threads.
class RunnerObserver {
 public:
  virtual ~RunnerObserver() = default;
  // A batch computed: its items' predictions and timings, in batch order.
  virtual void OnBatch(const ModelSpec& model, size_t tokens,
                       std::span<const Prediction> predictions,
                       std::span<const ItemTiming> timings) = 0;
  // Requests whose inputs were taken out of the queue uncomputed, or whose
  // batch failed to compute (INTERNAL), and why.
  virtual void OnDropped(const ModelSpec& model, absl::StatusCode code,
                         size_t requests) = 0;
};

struct RunnerOptions {
  BatcherOptions batching;
  RunnerObserver* observer = nullptr;  // not owned; may be null
  // Runs on the worker before each batch computes: for tests that need a
  // batch held (overload, deadlines) or failed (by throwing), and for
  // tracing. May be null.
  std::function<void(const std::string& model)> before_batch;
};

// A loaded model with its batcher and workers.
class ModelRunner {
 public:
  ModelRunner(std::shared_ptr<const Model> model, RunnerOptions options);
  ModelRunner(std::unique_ptr<Model> model, BatcherOptions batching)
      : ModelRunner(std::shared_ptr<const Model>(std::move(model)),
                    RunnerOptions{batching, nullptr, nullptr}) {}
  ~ModelRunner() { Stop(); }

  const Model& model() const { return *model_; }
  // For calls that must outlive a reload of this runner.
  const std::shared_ptr<const Model>& shared_model() const { return model_; }

  // Queues every input of one request; all or none. RESOURCE_EXHAUSTED when
  // the queue is full, UNAVAILABLE once the runner is stopping.
  absl::Status Submit(std::shared_ptr<PendingRequest> request,
                      std::vector<PreparedInput> inputs, absl::Time arrival);

  // Refuses new inputs, finishes queued ones, joins the workers. Idempotent;
  // not from a worker thread.
  void Stop() { batcher_.Stop(); }

  const BatcherOptions& batching() const { return options_.batching; }
  size_t queued() const { return batcher_.queued(); }
  // Inputs computed, dropped uncomputed, and in batches whose compute
  // failed, since start.
  uint64_t computed() const { return computed_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  struct WorkItem {
    std::shared_ptr<PendingRequest> request;
    size_t index;
    PreparedInput input;
    absl::Time arrival;
  };

  void RunBatch(std::vector<WorkItem> batch);
  void Compute(std::vector<WorkItem>& batch);
  // Ends every request of a batch whose compute threw.
  void Fail(const std::vector<WorkItem>& batch, const absl::Status& status);
  void Drop(std::vector<WorkItem> items);

  const std::shared_ptr<const Model> model_;
  const RunnerOptions options_;
  std::atomic<uint64_t> computed_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> failed_{0};
  Batcher<WorkItem> batcher_;  // last: its workers use the members above
};

}  // namespace beex

#endif  // BEEX_SERVER_MODEL_RUNNER_H_
