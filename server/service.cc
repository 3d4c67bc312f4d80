#include "server/service.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"

namespace beex {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

constexpr std::pair<ExitPolicyKind, v1::ExitPolicy> kPolicies[] = {
    {ExitPolicyKind::kNone, v1::EXIT_POLICY_NONE},
    {ExitPolicyKind::kEntropy, v1::EXIT_POLICY_ENTROPY},
    {ExitPolicyKind::kConfidence, v1::EXIT_POLICY_CONFIDENCE},
    {ExitPolicyKind::kPatience, v1::EXIT_POLICY_PATIENCE},
    {ExitPolicyKind::kEntropyReduction, v1::EXIT_POLICY_ENTROPY_REDUCTION},
    {ExitPolicyKind::kLearned, v1::EXIT_POLICY_LEARNED},
};

v1::ExitPolicy ToProto(ExitPolicyKind kind) {
  for (const auto& [engine, proto] : kPolicies) {
    if (engine == kind) return proto;
  }
  return v1::EXIT_POLICY_UNSPECIFIED;
}

absl::StatusOr<ExitPolicyKind> FromProto(v1::ExitPolicy policy) {
  for (const auto& [engine, proto] : kPolicies) {
    if (proto == policy) return engine;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("exit.policy ", static_cast<int>(policy), " is unknown"));
}

// Request settings over the model's defaults: a named policy brings its own
// threshold and patience unless the request sets them.
absl::StatusOr<ExitSettings> ResolveExit(const v1::ExitSettings& req,
                                         const ModelSpec& spec) {
  ExitSettings s = spec.default_exit;
  if (req.policy() != v1::EXIT_POLICY_UNSPECIFIED) {
    auto kind = FromProto(req.policy());
    if (!kind.ok()) return kind.status();
    if (*kind != s.policy) s = ExitSettings{*kind, 0.0f, 1, 0};
  }
  if (req.has_threshold()) s.threshold = req.threshold();
  if (req.has_patience())
    s.patience = static_cast<int>(std::min<uint32_t>(req.patience(), 1 << 20));
  s.max_layers =
      static_cast<int>(std::min<uint32_t>(req.max_layers(), 1 << 20));
  if (auto st = ValidateExitSettings(s, spec.num_layers,
                                     spec.task == Task::kRegression);
      !st.ok()) {
    return st;
  }
  return s;
}

template <typename Response>
void Fill(const ModelSpec& spec, const Prediction& p, Response* response,
          size_t index);

template <>
void Fill(const ModelSpec& spec, const Prediction& p,
          v1::ClassifyResponse* response, size_t index) {
  v1::Classification* r = response->mutable_results(static_cast<int>(index));
  r->set_label_index(p.label_index);
  r->set_label(spec.labels[p.label_index]);
  for (float s : p.scores) r->add_scores(s);
  r->set_exit_layer(p.exit_layer);
  r->set_num_layers(spec.num_layers);
  r->set_num_tokens(p.num_tokens);
}

template <>
void Fill(const ModelSpec& spec, const Prediction& p,
          v1::RegressResponse* response, size_t index) {
  v1::Regression* r = response->mutable_results(static_cast<int>(index));
  r->set_value(p.value);
  r->set_exit_layer(p.exit_layer);
  r->set_num_layers(spec.num_layers);
  r->set_num_tokens(p.num_tokens);
}

// One Classify or Regress call in flight: filled in by the model's worker,
// finished when the last input is done.
template <typename Response>
class PendingCall final : public PendingRequest {
 public:
  PendingCall(grpc::ServerUnaryReactor* reactor, Response* response,
              const ModelSpec* spec, size_t inputs, absl::Time arrival)
      : reactor_(reactor),
        response_(response),
        spec_(spec),
        remaining_(inputs),
        arrival_(arrival) {
    for (size_t i = 0; i < inputs; ++i) response_->add_results();
  }

  void Complete(size_t index, const Prediction& prediction,
                const ItemTiming& timing) override {
    Fill(*spec_, prediction, response_, index);
    auto* t =
        response_->mutable_results(static_cast<int>(index))->mutable_timing();
    t->set_queue_us(timing.queue_us);
    t->set_compute_us(timing.compute_us);
    if (remaining_.fetch_sub(1) == 1) {
      const int64_t total = absl::ToInt64Microseconds(absl::Now() - arrival_);
      for (auto& r : *response_->mutable_results()) {
        r.mutable_timing()->set_total_us(total);
      }
      reactor_->Finish(grpc::Status::OK);
    }
  }

 private:
  grpc::ServerUnaryReactor* reactor_;
  Response* response_;
  const ModelSpec* spec_;
  std::atomic<size_t> remaining_;
  absl::Time arrival_;
};

std::string InputField(size_t i, const char* name) {
  return absl::StrCat("inputs[", i, "].", name);
}

}  // namespace

template <typename Request, typename Response>
grpc::ServerUnaryReactor* InferenceService::Predict(
    grpc::CallbackServerContext* context, const Request* request,
    Response* response, Task task) {
  const absl::Time arrival = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto fail = [reactor](const absl::Status& s) {
    reactor->Finish(ToGrpc(s));
    return reactor;
  };
  if (FirstInvalidUtf8(request->model()) != std::string_view::npos) {
    return fail(absl::InvalidArgumentError("model is not valid UTF-8"));
  }
  auto it = runners_->find(request->model());
  if (it == runners_->end()) {
    return fail(absl::NotFoundError(
        absl::StrCat("model '", request->model(), "' is not loaded")));
  }
  ModelRunner& runner = *it->second;
  const ModelSpec& spec = runner.model().spec();
  if (spec.task != task) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "model '", spec.name, "' is a ",
        spec.task == Task::kRegression ? "regression" : "classification",
        " model; call ",
        spec.task == Task::kRegression ? "Regress" : "Classify")));
  }
  const size_t n = request->inputs_size();
  if (n == 0 || n > limits_.max_inputs) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "inputs has ", n, " items; allowed 1..", limits_.max_inputs)));
  }
  auto exit = ResolveExit(request->exit(), spec);
  if (!exit.ok()) return fail(exit.status());

  std::vector<PreparedInput> inputs(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& in = request->inputs(static_cast<int>(i));
    if (auto s = ValidateText(in.text(), InputField(i, "text"), limits_);
        !s.ok()) {
      return fail(s);
    }
    if (in.has_text_pair()) {
      if (auto s =
              ValidateText(in.text_pair(), InputField(i, "text_pair"), limits_);
          !s.ok()) {
        return fail(s);
      }
    }
    auto tokens = runner.model().Tokenize(
        {in.text(), in.has_text_pair()
                        ? std::optional<std::string_view>(in.text_pair())
                        : std::nullopt});
    if (!tokens.ok()) {
      return fail(absl::Status(
          tokens.status().code(),
          absl::StrCat("inputs[", i, "]: ", tokens.status().message())));
    }
    inputs[i] = {*std::move(tokens), *exit};
  }
  response->set_model(spec.name);
  auto call = std::make_shared<PendingCall<Response>>(reactor, response, &spec,
                                                      n, arrival);
  if (auto s = runner.Submit(std::move(call), std::move(inputs), arrival);
      !s.ok()) {
    return fail(s);
  }
  return reactor;
}

InferenceService::InferenceService(const ModelRunners* runners,
                                   RequestLimits limits)
    : runners_(runners), limits_(limits) {
  // Replaces the generated handlers of Classify and Regress with ones that
  // parse the wire twins; the service's methods are indexed in .proto order.
  // gRPC owns the handlers it is given, as in the generated constructor.
  const auto* service =
      v1::ClassifyRequest::descriptor()->file()->FindServiceByName("Inference");
  MarkMethodCallback(
      service->FindMethodByName("Classify")->index(),
      new grpc::internal::CallbackUnaryHandler<server::wire::ClassifyRequest,
                                               v1::ClassifyResponse>(
          [this](grpc::CallbackServerContext* context,
                 const server::wire::ClassifyRequest* request,
                 v1::ClassifyResponse* response) {
            return HandleClassify(context, request, response);
          }));
  MarkMethodCallback(
      service->FindMethodByName("Regress")->index(),
      new grpc::internal::CallbackUnaryHandler<server::wire::RegressRequest,
                                               v1::RegressResponse>(
          [this](grpc::CallbackServerContext* context,
                 const server::wire::RegressRequest* request,
                 v1::RegressResponse* response) {
            return HandleRegress(context, request, response);
          }));
}

grpc::ServerUnaryReactor* InferenceService::HandleClassify(
    grpc::CallbackServerContext* context,
    const server::wire::ClassifyRequest* request,
    v1::ClassifyResponse* response) {
  return Predict(context, request, response, Task::kClassification);
}

grpc::ServerUnaryReactor* InferenceService::HandleRegress(
    grpc::CallbackServerContext* context,
    const server::wire::RegressRequest* request,
    v1::RegressResponse* response) {
  return Predict(context, request, response, Task::kRegression);
}

v1::ModelInfo DescribeModel(const ModelSpec& spec) {
  v1::ModelInfo info;
  info.set_name(spec.name);
  info.set_task(spec.task == Task::kRegression ? v1::TASK_REGRESSION
                                               : v1::TASK_CLASSIFICATION);
  for (const auto& l : spec.labels) info.add_labels(l);
  info.set_value_min(spec.value_min);
  info.set_value_max(spec.value_max);
  info.set_pair_input(spec.pair_input);
  info.set_num_layers(spec.num_layers);
  info.set_max_tokens(spec.max_tokens);
  info.set_hidden_size(spec.hidden);
  info.set_binarized(spec.binarized);
  auto* exit = info.mutable_default_exit();
  exit->set_policy(ToProto(spec.default_exit.policy));
  exit->set_threshold(spec.default_exit.threshold);
  exit->set_patience(spec.default_exit.patience);
  info.set_bundle_bytes(spec.bundle_bytes);
  info.set_format_version(spec.format_version);
  info.mutable_metadata()->insert(spec.metadata.begin(), spec.metadata.end());
  return info;
}

grpc::ServerUnaryReactor* InferenceService::GetModelInfo(
    grpc::CallbackServerContext* context,
    const v1::GetModelInfoRequest* request, v1::ModelInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto it = runners_->find(request->model());
  if (it == runners_->end()) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("model '", request->model(), "' is not loaded")));
  } else {
    *response = DescribeModel(it->second->model().spec());
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest*,
    v1::ListModelsResponse* response) {
  for (const auto& [name, runner] : *runners_) {
    *response->add_models() = DescribeModel(runner->model().spec());
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace beex
