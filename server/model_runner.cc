#include "server/model_runner.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace beex {

ModelRunner::ModelRunner(std::shared_ptr<const Model> model,
                         RunnerOptions options)
    : model_(std::move(model)),
      options_(std::move(options)),
      batcher_(
          options_.batching,
          [this](std::vector<WorkItem> batch) { RunBatch(std::move(batch)); },
          BatcherHooks<WorkItem>{
              .cost =
                  [](const WorkItem& item) {
                    return item.input.tokens.ids.size();
                  },
              .is_live =
                  [](const WorkItem& item) {
                    return item.request->Liveness().ok();
                  },
              .drop =
                  [this](std::vector<WorkItem> items) {
                    Drop(std::move(items));
                  },
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

void ModelRunner::Drop(std::vector<WorkItem> items) {
  // Counted per request: the inputs of one request go together.
  std::map<absl::StatusCode, size_t> counts;
  std::set<const PendingRequest*> seen;
  for (auto& item : items) {
    absl::Status why = item.request->Liveness();
    if (why.ok()) why = absl::CancelledError("dropped");
    if (seen.insert(item.request.get()).second) ++counts[why.code()];
    item.request->Fail(why);
  }
  dropped_ += items.size();
  if (options_.observer != nullptr) {
    for (const auto& [code, n] : counts) {
      options_.observer->OnDropped(model_->spec(), code, n);
    }
  }
}

void ModelRunner::RunBatch(std::vector<WorkItem> batch) {
  // An exception leaving the worker would end the process and every call in
  // it; only this batch's calls fail, and the worker goes on.
  try {
    Compute(batch);
  } catch (const std::exception& e) {
    Fail(batch, absl::InternalError(
                    absl::StrCat("computing the batch failed: ", e.what())));
  } catch (...) {
    Fail(batch, absl::InternalError("computing the batch failed"));
  }
}

void ModelRunner::Fail(const std::vector<WorkItem>& batch,
                       const absl::Status& status) {
  spdlog::error("model {}: {} ({} inputs)", model_->spec().name,
                status.ToString(), batch.size());
  std::set<PendingRequest*> requests;
  for (const auto& item : batch) requests.insert(item.request.get());
  // Counted first: a test that sees its reply also sees it counted.
  failed_ += batch.size();
  if (options_.observer != nullptr) {
    options_.observer->OnDropped(model_->spec(), status.code(),
                                 requests.size());
  }
  for (PendingRequest* request : requests) request->Fail(status);
}

void ModelRunner::Compute(std::vector<WorkItem>& batch) {
  if (options_.before_batch) options_.before_batch(model_->spec().name);
  std::vector<PreparedInput> inputs;
  inputs.reserve(batch.size());
  size_t tokens = 0;
  for (auto& item : batch) {
    tokens += item.input.tokens.ids.size();
    inputs.push_back(std::move(item.input));
  }
  const absl::Time start = absl::Now();
  const std::vector<Prediction> predictions = model_->Predict(inputs);
  std::vector<ItemTiming> timings(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    timings[i].queue_us = absl::ToInt64Microseconds(start - batch[i].arrival);
    timings[i].compute_us = predictions[i].compute_us;
  }
  computed_ += batch.size();
  // Metrics first: a test that sees its reply also sees it counted.
  if (options_.observer != nullptr) {
    options_.observer->OnBatch(model_->spec(), tokens, predictions, timings);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].request->Complete(batch[i].index, predictions[i], timings[i]);
  }
}

}  // namespace beex
