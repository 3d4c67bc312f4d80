// beex-loadgen: drives a beex server with a file of inputs and reports what it
// measured. Bounded in time and count; stops by itself.
//
// Closed loop (a concurrency sweep: each level keeps that many requests in
// flight):
//   beex-loadgen --model sst2 --inputs sents.txt --concurrency 1,8,64
// Open loop (fixed request rate; latency counts from the scheduled send time,
// so a slow server cannot hide its queueing):
//   beex-loadgen --model sst2 --inputs sents.txt --rate 100,400
// --stream sends the requests on ClassifyStream/RegressStream instead of
// unary calls: one stream per closed-loop client, --streams streams shared
// round robin by the open loop.
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "beex/v1/inference.grpc.pb.h"
#include "client/client_common.h"
#include "client/load_stream.h"

ABSL_FLAG(std::string, addr, "localhost:50051", "Server address, HOST:PORT");
ABSL_FLAG(std::string, model, "", "Model name (required)");
ABSL_FLAG(std::string, method, "classify", "classify or regress");
ABSL_FLAG(std::string, inputs, "",
          "File with one input per line, a tab between a pair (required)");
ABSL_FLAG(int, batch, 1, "Inputs per request");
ABSL_FLAG(std::vector<std::string>, concurrency, {},
          "Closed loop: comma-separated levels of requests in flight");
ABSL_FLAG(std::vector<std::string>, rate, {},
          "Open loop: comma-separated request rates per second");
ABSL_FLAG(double, duration, 10, "Seconds per level (at most 600)");
ABSL_FLAG(int64_t, max_requests, 0,
          "Requests per level at most (0: bounded by --duration only)");
ABSL_FLAG(int, max_outstanding, 4096,
          "Open loop: sends skipped (and counted) beyond this many in flight");
ABSL_FLAG(double, timeout, 10, "Deadline per request, in seconds");
ABSL_FLAG(int, retries, 0, "Resends of a request answered UNAVAILABLE");
ABSL_FLAG(double, retry_backoff_ms, 20,
          "Wait before the first resend; each next one waits twice as long "
          "(at most 1 s), with +-20% jitter, as gRPC's retry policy does");
ABSL_FLAG(bool, stream, false,
          "Send on the ClassifyStream/RegressStream RPCs: a stream per "
          "closed-loop client, --streams streams for the open loop");
ABSL_FLAG(int, streams, 64, "Open loop with --stream: streams to send on");
ABSL_FLAG(std::string, policy, "", "Exit policy (default: the model's)");
ABSL_FLAG(std::string, json, "", "Write the results as JSON to this file");
ABSL_FLAG(std::string, csv, "", "Write the results as CSV to this file");

namespace beex::client {
namespace {

using Clock = std::chrono::steady_clock;

struct LevelResult {
  std::string mode;  // "closed" or "open"
  double level = 0;  // concurrency or rate
  int64_t requests = 0, ok = 0, retried = 0, skipped = 0;
  std::map<std::string, int64_t> codes;
  double seconds = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, mean_exit_layer = 0;
  int64_t inputs_ok = 0;
  double RequestsPerSecond() const { return seconds > 0 ? ok / seconds : 0; }
  double InputsPerSecond() const {
    return seconds > 0 ? inputs_ok / seconds : 0;
  }
};

// Collects completions of one level from gRPC's callback threads.
class Recorder {
 public:
  void Record(grpc::StatusCode code, double latency_ms, int exit_layer_sum,
              int results, int attempts) {
    absl::MutexLock lock(&mu_);
    ++codes_[CodeName(code)];
    if (attempts > 1) ++retried_;
    if (code == grpc::StatusCode::OK) {
      latencies_.push_back(latency_ms);
      exit_layer_sum_ += exit_layer_sum;
      results_ += results;
    }
    --outstanding_;
  }
  void Started() {
    absl::MutexLock lock(&mu_);
    ++outstanding_;
    ++started_;
  }
  int64_t Outstanding() {
    absl::MutexLock lock(&mu_);
    return outstanding_;
  }
  // Waits until nothing is in flight, or the deadline.
  void Drain(Clock::time_point deadline) {
    absl::MutexLock lock(&mu_);
    const auto remaining = deadline - Clock::now();
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](int64_t* n) { return *n == 0; }, &outstanding_),
        absl::FromChrono(std::max(remaining, Clock::duration::zero())));
  }
  void Fill(LevelResult* r) {
    absl::MutexLock lock(&mu_);
    r->requests = started_;
    r->codes = codes_;
    r->retried = retried_;
    r->ok = static_cast<int64_t>(latencies_.size());
    r->inputs_ok = results_;
    r->mean_exit_layer =
        results_ ? static_cast<double>(exit_layer_sum_) / results_ : 0;
    std::sort(latencies_.begin(), latencies_.end());
    auto pct = [&](double p) {
      if (latencies_.empty()) return 0.0;
      const size_t i =
          std::min(latencies_.size() - 1,
                   static_cast<size_t>(p / 100.0 *
                                       static_cast<double>(latencies_.size())));
      return latencies_[i];
    };
    r->p50_ms = pct(50);
    r->p90_ms = pct(90);
    r->p99_ms = pct(99);
  }

 private:
  absl::Mutex mu_;
  std::vector<double> latencies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> codes_ ABSL_GUARDED_BY(mu_);
  int64_t exit_layer_sum_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t results_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t retried_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t started_ ABSL_GUARDED_BY(mu_) = 0;
};

class LoadGenerator {
 public:
  LoadGenerator(std::shared_ptr<grpc::Channel> channel,
                std::vector<v1::TextInput> inputs, v1::ExitSettings exit)
      : stub_(v1::Inference::NewStub(std::move(channel))),
        inputs_(std::move(inputs)),
        exit_(std::move(exit)),
        regress_(absl::GetFlag(FLAGS_method) == "regress"),
        stream_(absl::GetFlag(FLAGS_stream)),
        batch_(std::max(1, absl::GetFlag(FLAGS_batch))) {}
  // A level returns once every call is recorded, while gRPC may still be
  // freeing the last ones; the channel goes (with stub_) only after them.
  ~LoadGenerator() { live_calls_->AwaitNone(); }
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  LevelResult Closed(int concurrency) {
    auto loop = std::make_shared<ClosedLoop>();
    const auto [start, stop] = Window();
    loop->stop = stop;
    loop->budget = Budget();
    std::vector<std::unique_ptr<LoadStream>> streams;
    for (int i = 0; i < concurrency; ++i) {
      if (stream_) {
        streams.push_back(OpenStream());
        ClosedNextOnStream(loop, streams.back().get());
      } else {
        ClosedNext(loop);
      }
    }
    std::this_thread::sleep_until(stop);
    loop->rec->Drain(stop + Timeout() + std::chrono::seconds(1));
    LevelResult r = Finish(loop->rec.get(), "closed", concurrency, start);
    CloseStreams(streams);
    return r;
  }

  LevelResult Open(double rate) {
    auto rec = std::make_shared<Recorder>();
    const auto [start, stop] = Window();
    const int64_t budget = Budget();
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / rate));
    std::vector<std::unique_ptr<LoadStream>> streams;
    for (int i = 0; stream_ && i < std::max(1, absl::GetFlag(FLAGS_streams));
         ++i) {
      streams.push_back(OpenStream());
    }
    int64_t skipped = 0;
    int64_t sent = 0;
    for (auto at = start; at < stop && sent < budget; at += interval) {
      std::this_thread::sleep_until(at);
      if (rec->Outstanding() >= absl::GetFlag(FLAGS_max_outstanding)) {
        ++skipped;
        continue;
      }
      if (stream_) {
        SendOnStream(rec, at, streams[sent % streams.size()].get(),
                     [](bool) {});
      } else {
        Send(rec, at, [] {});
      }
      ++sent;
    }
    rec->Drain(Clock::now() + Timeout() + std::chrono::seconds(1));
    LevelResult r = Finish(rec.get(), "open", rate, start);
    r.skipped = skipped;
    CloseStreams(streams);
    return r;
  }

 private:
  // Shared with the callbacks, which may still be unwinding when a level's
  // Drain returns.
  struct ClosedLoop {
    std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
    Clock::time_point stop;
    std::atomic<int64_t> budget;
  };

  // Each completion starts the next request of its "virtual client" while
  // time and budget last.
  void ClosedNext(std::shared_ptr<ClosedLoop> loop) {
    if (Clock::now() >= loop->stop || loop->budget.fetch_sub(1) <= 0) return;
    Send(loop->rec, Clock::now(), [this, loop] { ClosedNext(loop); });
  }

  // As ClosedNext, for a client that sends on a stream of its own.
  void ClosedNextOnStream(std::shared_ptr<ClosedLoop> loop,
                          LoadStream* stream) {
    if (Clock::now() >= loop->stop || loop->budget.fetch_sub(1) <= 0) return;
    SendOnStream(loop->rec, Clock::now(), stream,
                 [this, loop, stream](bool stream_over) {
                   if (!stream_over) ClosedNextOnStream(loop, stream);
                 });
  }

  std::unique_ptr<LoadStream> OpenStream() {
    if (regress_) {
      return std::make_unique<
          LoadStreamImpl<v1::RegressRequest, v1::RegressStreamResponse>>(
          [this](grpc::ClientContext* c, auto* reactor) {
            stub_->async()->RegressStream(c, reactor);
          },
          [this](size_t first, v1::RegressRequest* r) { Fill(first, r); });
    }
    return std::make_unique<
        LoadStreamImpl<v1::ClassifyRequest, v1::ClassifyStreamResponse>>(
        [this](grpc::ClientContext* c, auto* reactor) {
          stub_->async()->ClassifyStream(c, reactor);
        },
        [this](size_t first, v1::ClassifyRequest* r) { Fill(first, r); });
  }

  void CloseStreams(const std::vector<std::unique_ptr<LoadStream>>& streams) {
    for (const auto& s : streams) s->Close();
    const absl::Time deadline =
        absl::Now() + absl::FromChrono(Timeout()) + absl::Seconds(1);
    for (const auto& s : streams) s->AwaitDone(deadline);
  }

  // Sends the next inputs on `stream`; `then` runs (told whether the stream
  // is over) before the answer is recorded, as Send's does.
  void SendOnStream(const std::shared_ptr<Recorder>& rec,
                    Clock::time_point sent, LoadStream* stream,
                    std::function<void(bool stream_over)> then) {
    rec->Started();
    stream->Send(NextFirst(), [rec, sent,
                               then = std::move(then)](const StreamAnswer& a) {
      const double ms =
          std::chrono::duration<double, std::milli>(Clock::now() - sent)
              .count();
      then(a.stream_over);
      rec->Record(a.code, ms, a.exit_layer_sum, a.results, 1);
    });
  }

  size_t NextFirst() { return next_input_.fetch_add(batch_) % inputs_.size(); }

  template <typename Request>
  void Fill(size_t first, Request* req) const {
    req->set_model(absl::GetFlag(FLAGS_model));
    *req->mutable_exit() = exit_;
    for (int i = 0; i < batch_; ++i) {
      *req->add_inputs() = inputs_[(first + i) % inputs_.size()];
    }
  }

  // Counts the unary calls alive. A call's ClientContext holds the channel,
  // and gRPC 1.51 destroys the channel's callback queue when the last
  // reference goes, the queue its own thread is polling: dropped by a call
  // freed in its callback, on that thread, the queue is freed under it
  // (TSan: heap-use-after-free in grpc_completion_queue_next; ASan: a double
  // free). So the load generator keeps its channel until no call is left.
  class LiveCalls {
   public:
    void Add() {
      absl::MutexLock lock(&mu_);
      ++live_;
    }
    void Remove() {
      absl::MutexLock lock(&mu_);
      --live_;
    }
    void AwaitNone() {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](int64_t* n) { return *n == 0; }, &live_));
    }

   private:
    absl::Mutex mu_;
    int64_t live_ ABSL_GUARDED_BY(mu_) = 0;
  };

  struct Call {
    explicit Call(std::shared_ptr<LiveCalls> live) : counted(std::move(live)) {}
    // The first member, so it is let go after the context.
    struct Counted {
      explicit Counted(std::shared_ptr<LiveCalls> l) : live(std::move(l)) {
        live->Add();
      }
      ~Counted() { live->Remove(); }
      Counted(const Counted&) = delete;
      Counted& operator=(const Counted&) = delete;
      std::shared_ptr<LiveCalls> live;
    } counted;
    grpc::ClientContext context;
    v1::ClassifyRequest classify;
    v1::ClassifyResponse classified;
    v1::RegressRequest regress;
    v1::RegressResponse regressed;
  };

  std::pair<Clock::time_point, Clock::time_point> Window() const {
    const double seconds =
        std::clamp(absl::GetFlag(FLAGS_duration), 0.1, 600.0);
    const auto start = Clock::now();
    return {start, start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds))};
  }
  static int64_t Budget() {
    const int64_t max = absl::GetFlag(FLAGS_max_requests);
    return max > 0 ? max : std::numeric_limits<int64_t>::max();
  }
  static Clock::duration Timeout() {
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(absl::GetFlag(FLAGS_timeout)));
  }

  LevelResult Finish(Recorder* rec, const char* mode, double level,
                     Clock::time_point start) {
    LevelResult r;
    r.mode = mode;
    r.level = level;
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    rec->Fill(&r);
    return r;
  }

  // Sends the next inputs; `then` runs after the result is recorded.
  void Send(const std::shared_ptr<Recorder>& rec, Clock::time_point sent,
            std::function<void()> then) {
    rec->Started();
    Attempt(rec, sent, NextFirst(), 1, std::move(then));
  }

  // Wait before resend number `attempt` (1-based).
  static std::chrono::microseconds Backoff(int attempt) {
    thread_local std::mt19937 rng(std::random_device{}());
    const double base = absl::GetFlag(FLAGS_retry_backoff_ms) *
                        std::pow(2.0, std::min(attempt - 1, 16));
    const double ms = std::min(base, 1000.0) *
                      std::uniform_real_distribution<double>(0.8, 1.2)(rng);
    return std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
  }

  void Attempt(std::shared_ptr<Recorder> rec, Clock::time_point sent,
               size_t first, int attempt, std::function<void()> then) {
    auto call = std::make_shared<Call>(live_calls_);
    call->context.set_deadline(std::chrono::system_clock::now() + Timeout());
    auto done = [this, rec, sent, first, attempt, call,
                 then = std::move(then)](grpc::Status status) mutable {
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
          attempt <= absl::GetFlag(FLAGS_retries)) {
        // An immediate resend through a round-robin balancer lands on the
        // same draining replica one time in N; backing off gives the
        // balancer time to take it out.
        // The failed call stays counted in LiveCalls until the resend is
        // under way: the generator must not go while a resend is waiting.
        auto alarm = std::make_shared<grpc::Alarm>();
        alarm->Set(std::chrono::system_clock::now() + Backoff(attempt),
                   [this, rec, sent, first, attempt, alarm, call,
                    then = std::move(then)](bool) mutable {
                     Attempt(rec, sent, first, attempt + 1, std::move(then));
                     call.reset();
                     // The alarm holds this callback, which holds the
                     // alarm: let go here (gRPC allows it) or both leak.
                     alarm.reset();
                   });
        return;
      }
      int exit_sum = 0, results = 0;
      if (status.ok()) {
        auto add = [&](const auto& rs) {
          for (const auto& r : rs) exit_sum += static_cast<int>(r.exit_layer());
          results += rs.size();
        };
        regress_ ? add(call->regressed.results())
                 : add(call->classified.results());
      }
      const double ms =
          std::chrono::duration<double, std::milli>(Clock::now() - sent)
              .count();
      // The next request starts before this one is recorded as done, so
      // a level's Drain never sees zero in flight while a chain goes on.
      then();
      rec->Record(status.error_code(), ms, exit_sum, results, attempt);
    };
    if (regress_) {
      Fill(first, &call->regress);
      stub_->async()->Regress(&call->context, &call->regress, &call->regressed,
                              std::move(done));
    } else {
      Fill(first, &call->classify);
      stub_->async()->Classify(&call->context, &call->classify,
                               &call->classified, std::move(done));
    }
  }

  std::shared_ptr<LiveCalls> live_calls_ = std::make_shared<LiveCalls>();
  std::unique_ptr<v1::Inference::Stub> stub_;
  std::vector<v1::TextInput> inputs_;
  v1::ExitSettings exit_;
  bool regress_;
  bool stream_;
  int batch_;
  std::atomic<size_t> next_input_{0};
};

std::string CodesText(const LevelResult& r, const char* sep, const char* kv) {
  return absl::StrJoin(r.codes, sep, [&](std::string* out, const auto& c) {
    absl::StrAppend(out, c.first, kv, c.second);
  });
}

void Report(const std::vector<LevelResult>& results) {
  std::cout << absl::StrFormat(
      "%-6s %8s %9s %9s %10s %10s %9s %9s %9s %6s  %s\n", "mode", "level",
      "requests", "ok", "req/s", "inputs/s", "p50 ms", "p90 ms", "p99 ms",
      "exit", "status codes");
  for (const auto& r : results) {
    std::cout << absl::StrFormat(
        "%-6s %8g %9d %9d %10.1f %10.1f %9.2f %9.2f %9.2f %6.2f  %s%s\n",
        r.mode, r.level, r.requests, r.ok, r.RequestsPerSecond(),
        r.InputsPerSecond(), r.p50_ms, r.p90_ms, r.p99_ms, r.mean_exit_layer,
        CodesText(r, " ", "="),
        r.skipped ? absl::StrCat(" (", r.skipped, " sends skipped)") : "");
  }
  if (const auto path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::ofstream out(path);
    out << "[\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      out << absl::StrFormat(
          "  {\"mode\": \"%s\", \"level\": %g, \"requests\": %d, \"ok\": %d, "
          "\"retried\": %d, \"skipped\": %d, \"seconds\": %.3f, "
          "\"requests_per_second\": %.2f, \"inputs_per_second\": %.2f, "
          "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
          "\"mean_exit_layer\": %.3f, \"codes\": {%s}}%s\n",
          r.mode, r.level, r.requests, r.ok, r.retried, r.skipped, r.seconds,
          r.RequestsPerSecond(), r.InputsPerSecond(), r.p50_ms, r.p90_ms,
          r.p99_ms, r.mean_exit_layer,
          absl::StrJoin(r.codes, ", ",
                        [](std::string* out, const auto& c) {
                          absl::StrAppend(out, "\"", c.first, "\": ", c.second);
                        }),
          i + 1 < results.size() ? "," : "");
    }
    out << "]\n";
  }
  if (const auto path = absl::GetFlag(FLAGS_csv); !path.empty()) {
    std::ofstream out(path);
    out << "mode,level,requests,ok,retried,skipped,seconds,requests_per_second,"
           "inputs_per_second,p50_ms,p90_ms,p99_ms,mean_exit_layer,codes\n";
    for (const auto& r : results) {
      out << absl::StrFormat(
          "%s,%g,%d,%d,%d,%d,%.3f,%.2f,%.2f,%.3f,%.3f,%.3f,%.3f,%s\n", r.mode,
          r.level, r.requests, r.ok, r.retried, r.skipped, r.seconds,
          r.RequestsPerSecond(), r.InputsPerSecond(), r.p50_ms, r.p90_ms,
          r.p99_ms, r.mean_exit_layer, CodesText(r, ";", ":"));
    }
  }
}

int Run() {
  if (absl::GetFlag(FLAGS_model).empty() ||
      absl::GetFlag(FLAGS_inputs).empty()) {
    std::cerr << "--model and --inputs are required\n";
    return 2;
  }
  const std::string method = absl::GetFlag(FLAGS_method);
  if (method != "classify" && method != "regress") {
    std::cerr << "--method must be classify or regress\n";
    return 2;
  }
  std::vector<double> closed, open;
  auto parse_levels = [](const std::vector<std::string>& flag,
                         std::vector<double>* levels) {
    for (const auto& s : flag) {
      double v = 0;
      if (!absl::SimpleAtod(s, &v) || !(v > 0) || v > 1e6) {
        std::cerr << "bad level '" << s << "'\n";
        return false;
      }
      levels->push_back(v);
    }
    return true;
  };
  if (!parse_levels(absl::GetFlag(FLAGS_concurrency), &closed) ||
      !parse_levels(absl::GetFlag(FLAGS_rate), &open)) {
    return 2;
  }
  if (closed.empty() && open.empty()) closed = {1, 8, 64};
  std::ifstream file(absl::GetFlag(FLAGS_inputs));
  if (!file) {
    std::cerr << "cannot read " << absl::GetFlag(FLAGS_inputs) << "\n";
    return 2;
  }
  std::vector<v1::TextInput> inputs;
  for (std::string line; std::getline(file, line);) {
    if (auto in = ParseInputLine(line)) inputs.push_back(*std::move(in));
  }
  if (inputs.empty()) {
    std::cerr << "no inputs in " << absl::GetFlag(FLAGS_inputs) << "\n";
    return 2;
  }
  const auto policy = ParsePolicy(absl::GetFlag(FLAGS_policy));
  if (!policy) {
    std::cerr << "unknown --policy '" << absl::GetFlag(FLAGS_policy) << "'\n";
    return 2;
  }
  v1::ExitSettings exit;
  exit.set_policy(*policy);

  LoadGenerator gen(grpc::CreateChannel(absl::GetFlag(FLAGS_addr),
                                        grpc::InsecureChannelCredentials()),
                    std::move(inputs), exit);
  std::vector<LevelResult> results;
  for (double c : closed) results.push_back(gen.Closed(static_cast<int>(c)));
  for (double r : open) results.push_back(gen.Open(r));
  Report(results);
  for (const auto& r : results) {
    if (r.ok != r.requests) return 1;
  }
  return 0;
}

}  // namespace
}  // namespace beex::client

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Drives a beex server with a file of inputs; exits 1 if any request "
      "failed.\n"
      "  beex-loadgen --model NAME --inputs FILE --concurrency 1,8,64\n"
      "  beex-loadgen --model NAME --inputs FILE --rate 100,400 --duration 10");
  if (std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
      rest.size() > 1) {
    std::cerr << "unexpected argument: " << rest[1] << "\n";
    return 2;
  }
  // The load generator shares the machine with the server it measures;
  // Abseil's lock-order graph cost it 4% of its CPU (perf), as it would
  // beex-server (server/main.cc).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return beex::client::Run();
}
