// beex-server: serves early-exit text models over gRPC.
#include <dlfcn.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/compute_threads.h"
#include "server/model_config.h"
#include "server/server.h"

ABSL_FLAG(std::vector<std::string>, model, {},
          "A model to serve, as NAME=PATH to a .beex bundle; repeat the flag "
          "for several models. Batching settings of the model's own may "
          "follow, overriding the flags of the same names for it alone: "
          "NAME=PATH,max_batch_size=8,max_batch_delay_us=500 (also "
          "max_batch_tokens, max_queue, batch_threads)");
ABSL_FLAG(std::string, host, "0.0.0.0", "Address to listen on");
ABSL_FLAG(int, port, 50051, "gRPC port (0 picks a free one)");
// Batching.
ABSL_FLAG(int, max_batch_size, 32, "Inputs per batch, at most");
ABSL_FLAG(int, max_batch_tokens, 4096,
          "Tokens per batch, at most (0: no budget); an input longer than "
          "the budget forms a batch of its own");
ABSL_FLAG(int, max_batch_delay_us, 2000,
          "Longest time an input waits for its batch to fill, in microseconds");
ABSL_FLAG(
    int, max_queue, 4096,
    "Inputs waiting per model; requests beyond it get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, batch_threads, 0,
          "Threads per model that cut and compute batches (0: one per core)");
ABSL_FLAG(int, intra_op_threads, 0,
          "Compute threads of one batch (0: cores / the most batch threads "
          "any model has, at least 1, so batches in flight do not "
          "oversubscribe the cores)");
ABSL_FLAG(int, tokenizer_threads, 0,
          "Threads that validate and tokenize requests (0: one per core)");
ABSL_FLAG(int, max_pending_requests, 1024,
          "Requests waiting to be tokenized; beyond it RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_inflight_mb, 1024,
          "Megabytes of Classify and Regress requests in flight (tokenizing, "
          "queued, computing) before new ones get RESOURCE_EXHAUSTED; bounds "
          "the memory requests hold (0: no limit)");
ABSL_FLAG(int, max_stream_pending, 128,
          "Requests of one ClassifyStream/RegressStream read and not yet "
          "answered before the server stops reading that stream (HTTP/2 flow "
          "control then holds its client)");
// Request limits.
ABSL_FLAG(int, max_inputs, 256, "Inputs per request, at most");
ABSL_FLAG(int, max_text_bytes, 16384, "Bytes per text, at most");
ABSL_FLAG(int, max_message_bytes, 8 << 20,
          "Largest request message gRPC accepts, in bytes");
// Transport.
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain; with --tls_key serves TLS instead of "
          "plaintext");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert");
ABSL_FLAG(int, keepalive_time_ms, 0,
          "Ping idle connections after this many ms (0: gRPC's 2 h)");
ABSL_FLAG(int, keepalive_timeout_ms, 20000,
          "Close a connection whose keepalive ping is not answered in time");
ABSL_FLAG(int, min_client_ping_interval_ms, 0,
          "Shortest ping interval allowed to clients (0: gRPC's 5 min)");
ABSL_FLAG(bool, keepalive_permit_without_calls, false,
          "Allow client keepalive pings on connections without calls");
ABSL_FLAG(int, max_connection_age_ms, 0,
          "Close connections after this many ms so that clients re-resolve "
          "and spread over replicas (0: never)");
ABSL_FLAG(int, max_concurrent_streams, 1024,
          "Calls one connection may have open at once; a client's further "
          "calls wait on its side until one ends (0: gRPC's unbounded)");
ABSL_FLAG(int, transport_memory_mb, 1024,
          "gRPC's memory quota for its connections' buffers: a message that "
          "would take it over is refused RESOURCE_EXHAUSTED, not read "
          "(0: no quota)");
ABSL_FLAG(bool, reflection, true, "Serve gRPC server reflection");
// Operations.
ABSL_FLAG(int, metrics_port, -1,
          "HTTP port for /metrics (Prometheus), /healthz and /readyz "
          "(-1: none, 0: pick a free one)");
ABSL_FLAG(double, access_log, 0,
          "Write an access log line per call, at most this many per second "
          "(0: no access log)");
ABSL_FLAG(bool, sched_batch, true,
          "Run every thread under Linux's SCHED_BATCH policy, so that gRPC's "
          "threads waking for network events do not preempt a batch in "
          "compute; they run when it ends (measured: 24% more single-input "
          "requests per second on one core)");
ABSL_FLAG(int, drain_seconds, 10,
          "On SIGTERM/SIGINT, time given to calls in flight and queued "
          "inputs before they are cancelled");
ABSL_FLAG(int, drain_quiet_ms, 500,
          "While draining, new calls get UNAVAILABLE (clients retry them "
          "elsewhere) until none has arrived for this long; only then are "
          "connections closed, so no late call is cut off as CANCELLED");

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

// One batch worker per core by default: while one batch computes, another
// can be cut, and replies and tokenizing overlap with compute. Measured on 2
// cores (docs/BENCHMARKS.md): 2 workers of 1 thread served 20-25% more than
// 1 worker of 2 threads, whose small batches parallelize poorly.
int BatchThreadsFromFlags() {
  const int flag = absl::GetFlag(FLAGS_batch_threads);
  return flag > 0 ? flag : beex::UsableCores();
}

// Which malloc serves the process (the build links jemalloc unless
// sanitized): only jemalloc defines mallctl.
std::string AllocatorName() {
  using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);
  auto* mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (mallctl == nullptr) return "system malloc";
  const char* version = nullptr;
  size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0) return "jemalloc";
  return absl::StrCat("jemalloc ", version);
}

int IntraOpThreadsFromFlags(std::span<const beex::ModelConfig> models) {
  const int flag = absl::GetFlag(FLAGS_intra_op_threads);
  return flag > 0 ? flag
                  : beex::IntraOpThreadsSharing(beex::BusiestModelWorkers(
                        BatchThreadsFromFlags(), models));
}

beex::ServerOptions OptionsFromFlags() {
  beex::ServerOptions o;
  o.host = absl::GetFlag(FLAGS_host);
  o.port = absl::GetFlag(FLAGS_port);
  o.batching.max_batch_size = std::max(1, absl::GetFlag(FLAGS_max_batch_size));
  o.batching.max_batch_tokens =
      std::max(0, absl::GetFlag(FLAGS_max_batch_tokens));
  o.batching.max_delay =
      absl::Microseconds(std::max(0, absl::GetFlag(FLAGS_max_batch_delay_us)));
  o.batching.max_queue = std::max(1, absl::GetFlag(FLAGS_max_queue));
  o.batching.num_workers = BatchThreadsFromFlags();
  o.tokenizer_threads = std::max(0, absl::GetFlag(FLAGS_tokenizer_threads));
  o.max_pending_requests =
      std::max(1, absl::GetFlag(FLAGS_max_pending_requests));
  o.max_inflight_bytes =
      static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_max_inflight_mb)))
      << 20;
  o.max_stream_pending =
      static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_max_stream_pending)));
  o.limits.max_inputs = std::max(1, absl::GetFlag(FLAGS_max_inputs));
  o.limits.max_text_bytes = std::max(1, absl::GetFlag(FLAGS_max_text_bytes));
  o.transport.max_receive_message_bytes =
      std::max(1024, absl::GetFlag(FLAGS_max_message_bytes));
  o.transport.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
  o.transport.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  o.transport.keepalive_time_ms = absl::GetFlag(FLAGS_keepalive_time_ms);
  o.transport.keepalive_timeout_ms = absl::GetFlag(FLAGS_keepalive_timeout_ms);
  o.transport.min_client_ping_interval_ms =
      absl::GetFlag(FLAGS_min_client_ping_interval_ms);
  o.transport.permit_keepalive_without_calls =
      absl::GetFlag(FLAGS_keepalive_permit_without_calls);
  o.transport.max_connection_age_ms =
      absl::GetFlag(FLAGS_max_connection_age_ms);
  o.transport.max_concurrent_streams =
      std::max(0, absl::GetFlag(FLAGS_max_concurrent_streams));
  o.transport.memory_bytes =
      static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_transport_memory_mb)))
      << 20;
  o.transport.reflection = absl::GetFlag(FLAGS_reflection);
  o.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  o.access_log_per_second = std::max(0.0, absl::GetFlag(FLAGS_access_log));
  o.drain_quiet =
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_drain_quiet_ms)));
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  // absl's --help lists the flags of a file named like the program; ours
  // live in main.cc.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "server/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "Serves binarized early-exit text models over gRPC.\n"
      "  beex-server --model sst2=models/sst2.beex --model "
      "stsb=models/stsb.beex --port 50051 --metrics_port 9090\n"
      "SIGHUP reloads every model from its path; SIGTERM/SIGINT drain and "
      "exit 0.");
  const std::vector<std::string> model_flags = CollectModelFlags(argc, argv);
  // A word without a flag is a mistake, not something to skip: `--model
  // a=a.beex b=b.beex` would otherwise serve a alone.
  if (std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
      rest.size() > 1) {
    spdlog::error("unexpected argument '{}' (each model needs its own --model)",
                  rest[1]);
    return 2;
  }

  // Signals are taken by sigwait below, not by whichever thread they hit;
  // blocked before any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Before any thread starts, so that all inherit it. Under the default
  // policy each request's network events (a read, a write's completion) wake
  // gRPC's threads, which preempt the batch worker two or three times a
  // request, each preemption a pair of context switches. SCHED_BATCH only
  // stops wake-ups from preempting; time slices and priorities stay as they
  // are, and no privilege is needed.
  if (absl::GetFlag(FLAGS_sched_batch)) {
    const sched_param param{};
    if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
      spdlog::warn(
          "cannot switch to SCHED_BATCH ({}); running under the "
          "default policy",
          std::strerror(errno));
    }
  }

  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detector on: a global graph updated on every lock (57 ns a lock/unlock
  // against 14 without it, measured here) that aborts the process on a
  // lock-order cycle. The tests keep it to find such cycles; the server
  // does not pay for it or die of it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  beex::ServerOptions options = OptionsFromFlags();
  for (const auto& flag : model_flags) {
    auto parsed = beex::ParseModelFlag(flag);
    if (!parsed.ok()) {
      spdlog::error("{}", parsed.status().ToString());
      return 2;
    }
    options.models.push_back(*parsed);
  }
  // The engine's thread pool is process-wide, set before any model runs.
  beex::SetIntraOpThreads(IntraOpThreadsFromFlags(options.models));
  const auto& b = options.batching;
  const auto& t = options.transport;
  spdlog::info(
      "beex-server: {} model(s); batch {} inputs / {} tokens / {} us, queue "
      "{} inputs, {} batch thread(s) per model, {} intra-op thread(s); "
      "tokenizer threads {}, pending "
      "requests {}, in flight {} MB, per stream {} requests; limits {} inputs "
      "x {} bytes, messages {} "
      "bytes; {} calls per connection, transport memory {} MB; {}; "
      "keepalive {} ms / {} ms; reflection {}; metrics port {}; access log "
      "{}/s; drain {} s, quiet {} ms; allocator {}; scheduling {}",
      options.models.size(), b.max_batch_size, b.max_batch_tokens,
      absl::ToInt64Microseconds(b.max_delay), b.max_queue, b.num_workers,
      beex::IntraOpThreads(),
      options.tokenizer_threads == 0
          ? std::string("auto")
          : std::to_string(options.tokenizer_threads),
      options.max_pending_requests, options.max_inflight_bytes >> 20,
      options.max_stream_pending, options.limits.max_inputs,
      options.limits.max_text_bytes, t.max_receive_message_bytes,
      t.max_concurrent_streams, t.memory_bytes >> 20,
      t.tls_cert_path.empty() ? "plaintext" : "TLS", t.keepalive_time_ms,
      t.keepalive_timeout_ms, t.reflection ? "on" : "off", options.metrics_port,
      options.access_log_per_second, absl::GetFlag(FLAGS_drain_seconds),
      absl::ToInt64Milliseconds(options.drain_quiet), AllocatorName(),
      sched_getscheduler(0) == SCHED_BATCH ? "SCHED_BATCH" : "default");
  if (t.memory_bytes > 0 &&
      t.memory_bytes < static_cast<size_t>(t.max_receive_message_bytes)) {
    // Legal, and a way to refuse large messages under load; but alone it
    // silently turns --max_message_bytes into a smaller limit.
    spdlog::warn(
        "--transport_memory_mb ({} MB) is below --max_message_bytes ({} "
        "bytes): gRPC refuses a message larger than its free quota, so the "
        "largest messages allowed will be refused RESOURCE_EXHAUSTED",
        t.memory_bytes >> 20, t.max_receive_message_bytes);
  }

  auto server = beex::BeexServer::Create(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  spdlog::info("listening on {}:{} (not serving until the models are warm)",
               options.host, (*server)->port());
  if ((*server)->metrics_port() >= 0) {
    spdlog::info("metrics on http://{}:{}/metrics", options.host,
                 (*server)->metrics_port());
  }
  if (auto s = (*server)->LoadModels(); !s.ok()) {
    spdlog::error("cannot load models: {}", s.ToString());
    (*server)->Shutdown(absl::ZeroDuration());
    return 1;
  }
  spdlog::info("serving on {}:{}", options.host, (*server)->port());

  while (true) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal == SIGHUP) {
      if (auto s = (*server)->Reload(); s.ok()) {
        spdlog::info("reloaded every model");
      } else {
        spdlog::error("reload incomplete, old versions keep serving: {}",
                      s.ToString());
      }
      continue;
    }
    spdlog::info("signal {}: draining for up to {} s", signal,
                 absl::GetFlag(FLAGS_drain_seconds));
    break;
  }
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_drain_seconds)));
  server->reset();
  spdlog::info("stopped");
  return 0;
}
