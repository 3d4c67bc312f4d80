#ifndef BEEX_SERVER_MODEL_RUNNER_H_
#define BEEX_SERVER_MODEL_RUNNER_H_

#include <cstdint>
#include <memory>
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
  // Called once per input, from the model's worker thread.
  virtual void Complete(size_t index, const Prediction& prediction,
                        const ItemTiming& timing) = 0;
};

// A loaded model with its batcher and worker.
class ModelRunner {
 public:
  ModelRunner(std::unique_ptr<Model> model, BatcherOptions options);

  const Model& model() const { return *model_; }

  // Queues every input of one request; all or none.
  absl::Status Submit(std::shared_ptr<PendingRequest> request,
                      std::vector<PreparedInput> inputs, absl::Time arrival);

 private:
  struct WorkItem {
    std::shared_ptr<PendingRequest> request;
    size_t index;
    PreparedInput input;
    absl::Time arrival;
  };

  void RunBatch(std::vector<WorkItem> batch);

  std::unique_ptr<Model> model_;
  Batcher<WorkItem> batcher_;  // last: its worker uses model_
};

}  // namespace beex

#endif  // BEEX_SERVER_MODEL_RUNNER_H_
