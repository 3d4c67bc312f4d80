// beex-server: serves early-exit text models over gRPC.
#include <spdlog/spdlog.h>

#include <csignal>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "server/server.h"

ABSL_FLAG(std::vector<std::string>, model, {},
          "A model to serve, as NAME=PATH to a .beex bundle; repeat the flag "
          "for several models");
ABSL_FLAG(std::string, host, "0.0.0.0", "Address to listen on");
ABSL_FLAG(int, port, 50051, "gRPC port (0 picks a free one)");
ABSL_FLAG(int, max_batch_size, 32, "Inputs per batch, at most");
ABSL_FLAG(int, max_batch_delay_us, 2000,
          "Longest time an input waits for its batch to fill, in microseconds");
ABSL_FLAG(
    int, max_queue, 4096,
    "Inputs waiting per model; requests beyond it get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_inputs, 256, "Inputs per request, at most");
ABSL_FLAG(int, max_text_bytes, 16384, "Bytes per text, at most");
ABSL_FLAG(int, drain_seconds, 10,
          "On SIGTERM/SIGINT, time given to calls in flight before exit");

namespace {

// absl keeps only the last value of a repeated flag; collect every
// --model occurrence ourselves.
std::vector<std::string> CollectModelFlags(int argc, char** argv) {
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--model=")) {
      models.push_back(arg.substr(8));
    } else if (arg == "--model" && i + 1 < argc) {
      models.push_back(argv[++i]);
    }
  }
  return models;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves binarized early-exit text models over gRPC.\n"
      "  beex-server --model sst2=models/sst2.beex --model "
      "stsb=models/stsb.beex --port 50051");
  const std::vector<std::string> model_flags = CollectModelFlags(argc, argv);
  absl::ParseCommandLine(argc, argv);

  // Signals are taken by sigwait below, not by whichever thread they hit.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  beex::ServerOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.batching.max_batch_size =
      std::max(1, absl::GetFlag(FLAGS_max_batch_size));
  options.batching.max_delay =
      absl::Microseconds(std::max(0, absl::GetFlag(FLAGS_max_batch_delay_us)));
  options.batching.max_queue = std::max(1, absl::GetFlag(FLAGS_max_queue));
  options.limits.max_inputs = std::max(1, absl::GetFlag(FLAGS_max_inputs));
  options.limits.max_text_bytes =
      std::max(1, absl::GetFlag(FLAGS_max_text_bytes));
  for (const auto& flag : model_flags) {
    auto parsed = beex::ParseModelFlag(flag);
    if (!parsed.ok()) {
      spdlog::error("{}", parsed.status().ToString());
      return 2;
    }
    options.models.push_back(*parsed);
  }
  spdlog::info("beex-server: {} model(s), batch {} inputs / {} us, queue {}",
               options.models.size(), options.batching.max_batch_size,
               absl::ToInt64Microseconds(options.batching.max_delay),
               options.batching.max_queue);
  auto server = beex::BeexServer::Start(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  spdlog::info("serving on {}:{}", options.host, (*server)->port());

  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("signal {}: draining for up to {} s", signal,
               absl::GetFlag(FLAGS_drain_seconds));
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_drain_seconds)));
  server->reset();
  spdlog::info("stopped");
  return 0;
}
