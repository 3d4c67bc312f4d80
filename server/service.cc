#include "server/service.h"

#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "server/stream_call.h"
#include "server/unary_call.h"

namespace beex {
namespace {

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
    s = WithPolicy(s, *kind);
  }
  if (req.has_threshold()) s.threshold = req.threshold();
  if (req.has_patience())
    s.patience = static_cast<int>(std::min<uint32_t>(req.patience(), 1 << 20));
  s.max_layers =
      static_cast<int>(std::min<uint32_t>(req.max_layers(), 1 << 20));
  if (auto st = ValidateExitForModel(s, spec); !st.ok()) return st;
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

std::string InputField(size_t i, const char* name) {
  return absl::StrCat("inputs[", i, "].", name);
}

absl::Status NotServing() {
  return absl::UnavailableError(
      "the server is not serving: loading models or draining");
}

// Validates and tokenizes one request against `runner`'s model.
template <typename Request>
absl::StatusOr<std::vector<PreparedInput>> Prepare(
    const Request& request, const ModelRunner& runner, Task task,
    const RequestLimits& limits) {
  const ModelSpec& spec = runner.model().spec();
  if (spec.task != task) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", spec.name, "' is a ",
        spec.task == Task::kRegression ? "regression" : "classification",
        " model; call ",
        spec.task == Task::kRegression ? "Regress" : "Classify"));
  }
  const size_t n = request.inputs_size();
  if (n == 0 || n > limits.max_inputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs has ", n, " items; allowed 1..", limits.max_inputs));
  }
  auto exit = ResolveExit(request.exit(), spec);
  if (!exit.ok()) return exit.status();

  std::vector<PreparedInput> inputs(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& in = request.inputs(static_cast<int>(i));
    if (auto s = ValidateText(in.text(), InputField(i, "text"), limits);
        !s.ok()) {
      return s;
    }
    if (in.has_text_pair()) {
      if (auto s =
              ValidateText(in.text_pair(), InputField(i, "text_pair"), limits);
          !s.ok()) {
        return s;
      }
    }
    auto tokens = runner.model().Tokenize(
        {in.text(), in.has_text_pair()
                        ? std::optional<std::string_view>(in.text_pair())
                        : std::nullopt});
    if (!tokens.ok()) {
      return absl::Status(
          tokens.status().code(),
          absl::StrCat("inputs[", i, "]: ", tokens.status().message()));
    }
    inputs[i] = {*std::move(tokens), *exit};
  }
  return inputs;
}

}  // namespace

template <typename Request, typename Response>
grpc::ServerUnaryReactor* InferenceService::Predict(
    grpc::CallbackServerContext* context, const Request* request,
    Response* response, Task task) {
  auto call = UnaryCall<Response>::Create(context, response);
  Serve(call, task == Task::kRegression ? "Regress" : "Classify",
        deps_.access_log ? context->peer() : std::string(), request, response,
        task);
  return call->reactor();
}

template <typename Request, typename Response, typename StreamResponse>
grpc::ServerBidiReactor<Request, StreamResponse>*
InferenceService::PredictStream(grpc::CallbackServerContext* context,
                                Task task) {
  using Stream = StreamCall<Request, Response, StreamResponse>;
  const char* method =
      task == Task::kRegression ? "RegressStream" : "ClassifyStream";
  auto stream = Stream::Create(
      context, deps_.max_stream_pending, &streams_,
      [this, method, task,
       peer = deps_.access_log ? context->peer() : std::string()](
          std::shared_ptr<typename Stream::Message> message) {
        Serve(message, method, peer, message->request(), message->response(),
              task);
      });
  return stream->reactor();
}

template <typename Call, typename Request, typename Response>
void InferenceService::Serve(const std::shared_ptr<Call>& call,
                             const char* method, std::string peer,
                             const Request* request, Response* response,
                             Task task) {
  // Metrics label the call with the model as sent; BeexMetrics folds names
  // of models it does not serve into one label.
  std::string model_label =
      FirstInvalidUtf8(request->model()) == std::string_view::npos
          ? request->model()
          : std::string(BeexMetrics::kUnknownModel);
  // Counted in flight only once serving: every model is registered with the
  // metrics by then, so the +1 and the -1 land on the same label.
  if (deps_.calls) deps_.calls->Arrived();
  const bool serving = deps_.serving->load();
  if (serving && deps_.metrics) deps_.metrics->AddInflight(model_label, 1);
  const size_t request_bytes = request->ByteSizeLong();
  const bool admitted = serving && (deps_.inflight == nullptr ||
                                    deps_.inflight->TryAdmit(request_bytes));
  call->OnFinish([deps = deps_, model = model_label, peer = std::move(peer),
                  method, serving, n = request->inputs_size(),
                  held = admitted && deps_.inflight ? request_bytes : 0,
                  start = absl::Now()](const grpc::Status& s) {
    if (held > 0) deps.inflight->Release(held);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (deps.metrics) {
      deps.metrics->RecordRequest(model, method, s.error_code(), seconds);
      if (serving) deps.metrics->AddInflight(model, -1);
    }
    if (deps.calls) deps.calls->Finished();
    if (deps.access_log) {
      AccessLog::Entry e;
      e.peer = peer;
      e.method = method;
      e.model = model;
      e.code = s.error_code();
      e.inputs = n;
      e.seconds = seconds;
      deps.access_log->Log(e);
    }
  });
  if (!serving) {
    call->Finish(NotServing());
    return;
  }
  if (!admitted) {
    if (deps_.metrics) {
      deps_.metrics->RecordDropped(model_label, "inflight_bytes");
    }
    call->Finish(absl::ResourceExhaustedError(absl::StrCat(
        "requests in flight hold ", deps_.inflight->held(),
        " bytes; this one's ", request_bytes, " would pass the limit of ",
        deps_.inflight->limit(), " (--max_inflight_mb)")));
    return;
  }
  const bool scheduled = deps_.pool->TrySchedule([this, call, request, response,
                                                  task, model_label] {
    if (absl::Status live = call->Liveness(); !live.ok()) {
      call->Fail(live);  // expired or left before its turn
      return;
    }
    if (FirstInvalidUtf8(request->model()) != std::string_view::npos) {
      call->Fail(absl::InvalidArgumentError("model is not valid UTF-8"));
      return;
    }
    const absl::Status s = deps_.registry->WithRunner(
        request->model(), [&](ModelRunner& runner) -> absl::Status {
          auto inputs = Prepare(*request, runner, task, deps_.limits);
          if (!inputs.ok()) return inputs.status();
          response->set_model(runner.model().spec().name);
          auto fill = [model = runner.shared_model()](
                          Response* r, size_t index, const Prediction& p,
                          const ItemTiming& timing) {
            Fill(model->spec(), p, r, index);
            auto* t =
                r->mutable_results(static_cast<int>(index))->mutable_timing();
            t->set_queue_us(timing.queue_us);
            t->set_compute_us(timing.compute_us);
          };
          if (!call->StartQueued(inputs->size(), std::move(fill))) {
            return absl::OkStatus();  // the client left; already finished
          }
          return runner.Submit(call, *std::move(inputs), call->arrival());
        });
    if (!s.ok()) {
      if (s.code() == absl::StatusCode::kResourceExhausted && deps_.metrics) {
        deps_.metrics->RecordDropped(model_label, "queue_full");
      }
      call->Fail(s);
    }
  });
  if (!scheduled) {
    if (deps_.metrics) deps_.metrics->RecordDropped(model_label, "queue_full");
    call->Finish(absl::ResourceExhaustedError(
        absl::StrCat("too many requests waiting to be tokenized (limit ",
                     deps_.pool->max_pending(), ")")));
  }
}

void InferenceService::EndStreams() { streams_.EndAll(NotServing()); }

InferenceService::InferenceService(ServiceDeps deps) : deps_(deps) {
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
  MarkMethodCallback(
      service->FindMethodByName("ClassifyStream")->index(),
      new grpc::internal::CallbackBidiHandler<server::wire::ClassifyRequest,
                                              v1::ClassifyStreamResponse>(
          [this](grpc::CallbackServerContext* context) {
            return PredictStream<server::wire::ClassifyRequest,
                                 v1::ClassifyResponse,
                                 v1::ClassifyStreamResponse>(
                context, Task::kClassification);
          }));
  MarkMethodCallback(
      service->FindMethodByName("RegressStream")->index(),
      new grpc::internal::CallbackBidiHandler<server::wire::RegressRequest,
                                              v1::RegressStreamResponse>(
          [this](grpc::CallbackServerContext* context) {
            return PredictStream<server::wire::RegressRequest,
                                 v1::RegressResponse,
                                 v1::RegressStreamResponse>(context,
                                                            Task::kRegression);
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

v1::ModelInfo DescribeModel(const ModelRunner& runner) {
  const ModelSpec& spec = runner.model().spec();
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
  const BatcherOptions& b = runner.batching();
  auto* batching = info.mutable_batching();
  batching->set_max_batch_size(static_cast<uint32_t>(b.max_batch_size));
  batching->set_max_batch_tokens(static_cast<uint32_t>(b.max_batch_tokens));
  batching->set_max_batch_delay_us(
      static_cast<uint32_t>(absl::ToInt64Microseconds(b.max_delay)));
  batching->set_max_queue(static_cast<uint32_t>(b.max_queue));
  batching->set_batch_threads(static_cast<uint32_t>(b.num_workers));
  return info;
}

grpc::ServerUnaryReactor* InferenceService::GetModelInfo(
    grpc::CallbackServerContext* context,
    const v1::GetModelInfoRequest* request, v1::ModelInfo* response) {
  const absl::Time start = absl::Now();
  absl::Status s = NotServing();
  if (deps_.serving->load()) {
    s = deps_.registry->WithRunner(request->model(), [&](ModelRunner& runner) {
      *response = DescribeModel(runner);
      return absl::OkStatus();
    });
  }
  return FinishNow(context, "GetModelInfo", request->model(), s, start);
}

grpc::ServerUnaryReactor* InferenceService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest*,
    v1::ListModelsResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status s = NotServing();
  if (deps_.serving->load()) {
    for (const auto& runner : deps_.registry->All()) {
      *response->add_models() = DescribeModel(*runner);
    }
    s = absl::OkStatus();
  }
  return FinishNow(context, "ListModels", "", s, start);
}

grpc::ServerUnaryReactor* InferenceService::FinishNow(
    grpc::CallbackServerContext* context, const char* method,
    const std::string& model, const absl::Status& status, absl::Time start) {
  if (deps_.calls) {
    // Answered at once, but an arrival all the same: the client still
    // sends here.
    deps_.calls->Arrived();
    deps_.calls->Finished();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const int code = static_cast<int>(status.code());
  if (deps_.metrics) deps_.metrics->RecordRequest(model, method, code, seconds);
  if (deps_.access_log) {
    AccessLog::Entry e;
    const std::string peer = context->peer();
    e.peer = peer;
    e.method = method;
    e.model = model;
    e.code = code;
    e.seconds = seconds;
    deps_.access_log->Log(e);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(status));
  return reactor;
}

}  // namespace beex
