#include "server/model_runner.h"

#include "absl/time/clock.h"

namespace beex {

ModelRunner::ModelRunner(std::unique_ptr<Model> model, BatcherOptions options)
    : model_(std::move(model)),
      batcher_(options, [this](std::vector<WorkItem> batch) {
        RunBatch(std::move(batch));
      }) {}

absl::Status ModelRunner::Submit(std::shared_ptr<PendingRequest> request,
                                 std::vector<PreparedInput> inputs,
                                 absl::Time arrival) {
  std::vector<WorkItem> items;
  items.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    items.push_back({request, i, std::move(inputs[i]), arrival});
  }
  return batcher_.Enqueue(std::move(items));
}

void ModelRunner::RunBatch(std::vector<WorkItem> batch) {
  std::vector<PreparedInput> inputs;
  inputs.reserve(batch.size());
  for (auto& item : batch) inputs.push_back(std::move(item.input));
  const absl::Time start = absl::Now();
  const std::vector<Prediction> predictions = model_->Predict(inputs);
  for (size_t i = 0; i < batch.size(); ++i) {
    ItemTiming timing;
    timing.queue_us = absl::ToInt64Microseconds(start - batch[i].arrival);
    timing.compute_us = predictions[i].compute_us;
    batch[i].request->Complete(batch[i].index, predictions[i], timing);
  }
}

}  // namespace beex
