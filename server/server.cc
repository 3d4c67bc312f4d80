#include "server/server.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace beex {
namespace {

// Runs one input through every block so that the first real request does
// not pay for primitive creation.
void WarmUp(const Model& model) {
  const ModelSpec& spec = model.spec();
  auto tokens = model.Tokenize(
      {"warm up", spec.pair_input ? std::optional<std::string_view>("warm up")
                                  : std::nullopt});
  if (!tokens.ok()) return;
  PreparedInput input{*std::move(tokens), ExitSettings{}};
  model.Predict(std::span<const PreparedInput>(&input, 1));
}

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> ParseModelFlag(
    const std::string& flag) {
  const size_t eq = flag.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == flag.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model '", flag, "' is not NAME=PATH"));
  }
  return std::make_pair(flag.substr(0, eq), flag.substr(eq + 1));
}

absl::StatusOr<std::unique_ptr<BeexServer>> BeexServer::Start(
    const ServerOptions& options) {
  if (options.models.empty()) {
    return absl::InvalidArgumentError("no model given (--model NAME=PATH)");
  }
  ModelRunners runners;
  for (const auto& [name, path] : options.models) {
    if (runners.contains(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("model name '", name, "' given twice"));
    }
    auto model = Model::Load(path, name);
    if (!model.ok()) return model.status();
    WarmUp(**model);
    const ModelSpec& spec = (*model)->spec();
    spdlog::info(
        "loaded model {} from {}: {}, {} blocks, hidden {}, {} bytes, default "
        "exit {} (threshold {}, patience {})",
        name, path,
        spec.task == Task::kRegression ? "regression" : "classification",
        spec.num_layers, spec.hidden, spec.bundle_bytes,
        ExitPolicyName(spec.default_exit.policy), spec.default_exit.threshold,
        spec.default_exit.patience);
    runners.emplace(name, std::make_unique<ModelRunner>(*std::move(model),
                                                        options.batching));
  }
  auto server =
      std::make_unique<BeexServer>(std::move(runners), options.limits);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(options.host, ":", options.port),
                           grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(&server->service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port));
  }
  return server;
}

void BeexServer::Shutdown(absl::Duration drain) {
  if (server_) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + drain));
    server_->Wait();
    server_.reset();
  }
}

BeexServer::~BeexServer() { Shutdown(absl::Seconds(5)); }

}  // namespace beex
