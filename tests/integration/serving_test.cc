// The server as operators run it, over a real gRPC channel on loopback:
// overload, deadlines, cancellation, drain, reload under load, TLS, metrics
// checked against the calls sent, health and reflection.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "beex/v1/inference.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/integration/serving_fixture.h"
#include "tests/integration/serving_test_util.h"
#include "tests/prometheus_text.h"
#include "tests/test_util.h"

namespace beex {
namespace {

using ::beex::testing::Gate;
using ::beex::testing::WaitFor;
using ::testing::HasSubstr;
using ServingStatus = grpc::health::v1::HealthCheckResponse;

class ServingTest : public beex::testing::ServingFixture {
 protected:
  // A one-input call, which must be refused RESOURCE_EXHAUSTED at once (not
  // after the held batch) with `why` in its message.
  void ExpectRefusedAtOnce(const std::string& why) {
    v1::ClassifyResponse resp;
    const absl::Time start = absl::Now();
    const grpc::Status refused = Classify(Sst2(1), &resp);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(refused.error_message(), HasSubstr(why));
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  }

  // The metrics count that refusal and only it, as dropped for `reason`.
  void ExpectOneRefusalCounted(const std::string& reason) {
    const auto m = Metrics();
    EXPECT_EQ(Metric(m, "beex_requests_total",
                     {{"model", "sst2"},
                      {"method", "Classify"},
                      {"code", "RESOURCE_EXHAUSTED"}}),
              1);
    EXPECT_EQ(Metric(m, "beex_dropped_requests_total",
                     {{"model", "sst2"}, {"reason", reason}}),
              1);
  }
};

TEST_F(ServingTest, FullQueueAnswersResourceExhaustedAtOnce) {
  ServerOptions o = Options();
  o.batching.max_queue = 4;
  o.limits.max_inputs = 4;
  ASSERT_NO_FATAL_FAILURE(Start(o));
  auto runner = server_->runner("sst2");
  gate_.Close();
  grpc::Status held, b, c;
  std::thread t1 = ClassifyAsync(Sst2(1), &held);
  ASSERT_TRUE(gate_.AwaitHeld(1));  // the worker holds the first call
  std::thread t2 = ClassifyAsync(Sst2(2), &b);
  std::thread t3 = ClassifyAsync(Sst2(2), &c);
  ASSERT_TRUE(WaitFor([&] { return runner->queued() == 4; }));

  ExpectRefusedAtOnce("queue full");

  gate_.Open();
  t1.join();
  t2.join();
  t3.join();
  EXPECT_TRUE(held.ok()) << held.error_message();
  EXPECT_TRUE(b.ok()) << b.error_message();
  EXPECT_TRUE(c.ok()) << c.error_message();
  EXPECT_EQ(runner->computed(), 5u);
  ExpectOneRefusalCounted("queue_full");
}

TEST_F(ServingTest, ExpiredRequestIsDroppedBeforeCompute) {
  ASSERT_NO_FATAL_FAILURE(Start(Options()));
  auto runner = server_->runner("sst2");
  gate_.Close();
  grpc::Status held, expired;
  std::thread t1 = ClassifyAsync(Sst2(1), &held);
  ASSERT_TRUE(gate_.AwaitHeld(1));
  std::thread t2 = ClassifyAsync(Sst2(3), &expired, absl::Milliseconds(300));
  t2.join();  // its deadline passes while the worker is held
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  gate_.Open();
  t1.join();
  EXPECT_TRUE(held.ok());
  ASSERT_TRUE(WaitFor([&] { return runner->dropped() == 3; }));
  EXPECT_EQ(runner->computed(), 1u);  // only the held call was computed
  const auto m = Metrics();
  EXPECT_EQ(Metric(m, "beex_dropped_requests_total",
                   {{"model", "sst2"}, {"reason", "deadline"}}),
            1);
  EXPECT_EQ(Metric(m, "beex_requests_total",
                   {{"model", "sst2"},
                    {"method", "Classify"},
                    {"code", "DEADLINE_EXCEEDED"}}),
            1);
}

TEST_F(ServingTest, CancelledRequestIsDroppedBeforeCompute) {
  ASSERT_NO_FATAL_FAILURE(Start(Options()));
  auto runner = server_->runner("sst2");
  gate_.Close();
  grpc::Status held;
  std::thread t1 = ClassifyAsync(Sst2(1), &held);
  ASSERT_TRUE(gate_.AwaitHeld(1));
  grpc::ClientContext ctx;
  grpc::Status cancelled;
  std::thread t2([&] {
    v1::ClassifyResponse resp;
    cancelled = stub_->Classify(&ctx, Sst2(2), &resp);
  });
  ASSERT_TRUE(WaitFor([&] { return runner->queued() == 2; }));
  ctx.TryCancel();
  t2.join();
  EXPECT_EQ(cancelled.error_code(), grpc::StatusCode::CANCELLED);
  // The server hears of the cancel, and answers, before the worker is free.
  ASSERT_TRUE(WaitFor([&] {
    return Metric(Metrics(), "beex_requests_total",
                  {{"model", "sst2"},
                   {"method", "Classify"},
                   {"code", "CANCELLED"}}) == 1;
  }));
  gate_.Open();
  t1.join();
  EXPECT_TRUE(held.ok());
  ASSERT_TRUE(WaitFor([&] { return runner->dropped() == 2; }));
  EXPECT_EQ(runner->computed(), 1u);
  EXPECT_EQ(Metric(Metrics(), "beex_dropped_requests_total",
                   {{"model", "sst2"}, {"reason", "cancelled"}}),
            1);
}

TEST_F(ServingTest, DrainFinishesEveryCallInFlight) {
  ServerOptions o = Options();
  o.batching.max_batch_size = 4;
  o.batching.max_delay = absl::Seconds(10);  // only full batches are cut
  ASSERT_NO_FATAL_FAILURE(Start(o));
  auto runner = server_->runner("sst2");
  gate_.Close();
  std::vector<grpc::Status> statuses(6);
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(ClassifyAsync(Sst2(1 + i % 3), &statuses[i]));
  }
  // 12 inputs: one batch of 4 held, 8 queued.
  ASSERT_TRUE(gate_.AwaitHeld(1));
  ASSERT_TRUE(WaitFor([&] { return runner->queued() == 8; }));
  std::thread drain([&] { server_->Shutdown(absl::Seconds(20)); });
  ASSERT_TRUE(WaitFor([&] { return !server_->serving(); }));
  // Not ready while draining; the operations port stays up to say so.
  auto ready = beex::testing::HttpGet(server_->metrics_port(), "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 503);
  gate_.Open();
  for (auto& t : clients) t.join();
  drain.join();
  for (const auto& s : statuses) EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(runner->computed(), 12u);
  EXPECT_EQ(runner->dropped(), 0u);
}

// The drain deadline passes while a batch is held: gRPC cancels the calls
// left, every client gets an answer without waiting for the worker, and the
// worker completing those calls later touches nothing that is gone.
TEST_F(ServingTest, DrainDeadlineCancelsWhatIsLeftSafely) {
  ServerOptions o = Options();
  o.batching.max_batch_size = 2;
  ASSERT_NO_FATAL_FAILURE(Start(o));
  auto runner = server_->runner("sst2");
  gate_.Close();
  std::vector<grpc::Status> statuses(3);
  std::atomic<int> answered = 0;
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&, i] {
      v1::ClassifyResponse resp;
      statuses[i] = Classify(Sst2(2), &resp);
      ++answered;
    });
  }
  ASSERT_TRUE(gate_.AwaitHeld(1));
  ASSERT_TRUE(WaitFor([&] { return runner->queued() == 4; }));
  std::atomic<bool> drained = false;
  std::thread drain([&] {
    server_->Shutdown(absl::Milliseconds(300));
    drained = true;
  });
  // Every client is answered while the gate is still closed (a server that
  // waits for the worker instead fails here, not by hanging).
  EXPECT_TRUE(WaitFor([&] { return answered == 3; }, absl::Seconds(15)));
  // A client's CANCELLED can arrive before the server has run that call's
  // OnCancel (on gRPC's threads; late under ThreadSanitizer, where the
  // worker then computed a batch of a call its client had given up on, a
  // flake of CI): wait until every call is over on the server's side too.
  EXPECT_TRUE(WaitFor([&] {
    return Metric(Metrics(), "beex_inflight_requests", {{"model", "sst2"}}) ==
           0;
  }));
  EXPECT_FALSE(drained);  // the held batch still has the worker
  gate_.Open();           // now it completes calls that are over
  for (auto& t : clients) t.join();
  for (const auto& s : statuses) EXPECT_FALSE(s.ok());
  drain.join();
  EXPECT_EQ(runner->computed(), 2u);  // the held batch only
  EXPECT_EQ(runner->dropped(), 4u);
}

// Clients keep calling after a drain begins, as they do until a balancer
// takes the replica out. Each call is answered OK or UNAVAILABLE (which
// clients retry elsewhere), and gRPC's connections stay open until calls stop
// arriving: gRPC's own shutdown cuts off a call that reaches it before its
// GOAWAY reaches the client as CANCELLED, which no client retries.
TEST_F(ServingTest, CallsArrivingDuringADrainGetUnavailableNeverCancelled) {
  ServerOptions o = Options();
  o.before_batch = nullptr;
  o.batching.max_batch_size = 8;
  o.drain_quiet = absl::Milliseconds(200);
  ASSERT_NO_FATAL_FAILURE(Start(o));
  std::atomic<bool> balancer_moved_on = false;
  std::atomic<int> calls = 0, refused = 0;
  absl::Mutex mu;
  // Code and message: UNAVAILABLE from the service, not from a closed
  // connection, shows that gRPC stayed open.
  std::map<std::pair<grpc::StatusCode, std::string>, int> answers;
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      while (!balancer_moved_on) {
        v1::ClassifyResponse resp;
        const grpc::Status s = Classify(Sst2(1), &resp, absl::Seconds(10));
        ++calls;
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE) ++refused;
        absl::MutexLock lock(&mu);
        ++answers[{s.error_code(), s.error_message()}];
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return calls >= 200; }));
  std::atomic<bool> drained = false;
  std::thread drain([&] {
    server_->Shutdown(absl::Seconds(20));
    drained = true;
  });
  ASSERT_TRUE(WaitFor([&] { return !server_->serving(); }));
  ASSERT_TRUE(WaitFor([&] { return refused >= 100; }));
  EXPECT_FALSE(drained) << "the drain closed gRPC while calls kept arriving";
  balancer_moved_on = true;
  for (auto& t : clients) t.join();
  drain.join();
  absl::MutexLock lock(&mu);
  int unavailable = 0;
  for (const auto& [answer, n] : answers) {
    const auto& [code, message] = answer;
    if (code == grpc::StatusCode::UNAVAILABLE) {
      EXPECT_THAT(message, HasSubstr("draining"));
      unavailable += n;
    } else {
      EXPECT_EQ(code, grpc::StatusCode::OK) << n << " call(s): " << message;
    }
  }
  EXPECT_GE(unavailable, 100);
}

TEST_F(ServingTest, ReloadUnderLoadDropsNothingAndABadBundleKeepsTheOld) {
  const std::string dir = ::testing::TempDir() + "/reload";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/sst2.beex";
  std::filesystem::copy_file(beex::testing::SourcePath("models/sst2.beex"),
                             path,
                             std::filesystem::copy_options::overwrite_existing);
  ServerOptions o = Options();
  o.models = {{"sst2", path}};
  o.batching.max_batch_size = 8;
  o.batching.max_delay = absl::Microseconds(500);
  o.before_batch = nullptr;
  ASSERT_NO_FATAL_FAILURE(Start(o));

  std::atomic<bool> stop = false;
  std::atomic<int> ok = 0, failed = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      while (!stop) {
        v1::ClassifyResponse resp;
        const grpc::Status s = Classify(Sst2(1 + c), &resp);
        if (s.ok() && resp.results_size() == 1 + c) {
          ++ok;
        } else {
          ++failed;
          ADD_FAILURE() << s.error_code() << " " << s.error_message();
        }
      }
    });
  }
  auto first = server_->runner("sst2");
  ASSERT_TRUE(WaitFor([&] { return ok > 20; }));
  ASSERT_TRUE(server_->Reload().ok());
  auto second = server_->runner("sst2");
  EXPECT_NE(first, second);  // a new version serves
  const int before_bad = ok;
  ASSERT_TRUE(WaitFor([&] { return ok > before_bad + 20; }));

  { std::ofstream(path, std::ios::trunc) << "not a bundle"; }
  const absl::Status bad = server_->Reload();
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.message()), HasSubstr(path));
  EXPECT_EQ(server_->runner("sst2"), second);  // the old one keeps serving
  const int after_bad = ok;
  ASSERT_TRUE(WaitFor([&] { return ok > after_bad + 20; }));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_TRUE(first->queued() == 0);  // the old version finished its queue
}

TEST_F(ServingTest, TlsRoundTrip) {
  const std::string dir = ::testing::TempDir() + "/tls";
  std::filesystem::create_directories(dir);
  auto files = beex::testing::MakeCertificate(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  ServerOptions o = Options();
  o.before_batch = nullptr;
  o.transport.tls_cert_path = files->first;
  o.transport.tls_key_path = files->second;
  ASSERT_NO_FATAL_FAILURE(Start(o));

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = beex::testing::ReadFile(files->first);
  Connect(grpc::SslCredentials(ssl));
  v1::ClassifyResponse resp;
  const grpc::Status s = Classify(Sst2(2), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.results(0).label(), "positive");

  // A plaintext client gets nowhere.
  Connect(grpc::InsecureChannelCredentials());
  EXPECT_FALSE(Classify(Sst2(1), &resp, absl::Seconds(3)).ok());
}

TEST_F(ServingTest, TlsNeedsReadablePemCertificateAndKey) {
  ServerOptions o = Options();
  o.transport.tls_cert_path = "/nonexistent/cert.pem";
  o.transport.tls_key_path = "/nonexistent/key.pem";
  auto s = BeexServer::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("cannot read the TLS certificate"));
  o.transport.tls_key_path = "";
  s = BeexServer::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("both"));
}

TEST_F(ServingTest, InflightBytesBudgetRefusesAtOnceAndFreesOnAnswer) {
  ServerOptions o = Options();
  // Room for one request of one input, not for two.
  o.max_inflight_bytes = 2 * Sst2(1).ByteSizeLong() - 1;
  ASSERT_NO_FATAL_FAILURE(Start(o));
  gate_.Close();
  grpc::Status held;
  std::thread t1 = ClassifyAsync(Sst2(1), &held);
  ASSERT_TRUE(gate_.AwaitHeld(1));

  ExpectRefusedAtOnce("--max_inflight_mb");

  gate_.Open();
  t1.join();
  EXPECT_TRUE(held.ok()) << held.error_message();
  v1::ClassifyResponse resp;
  // An answered call gives its bytes back, and a request bigger than the
  // whole budget still runs when it is alone.
  grpc::Status again = Classify(Sst2(1), &resp);
  EXPECT_TRUE(again.ok()) << again.error_message();
  ASSERT_GT(Sst2(4).ByteSizeLong(), o.max_inflight_bytes);
  grpc::Status big = Classify(Sst2(4), &resp);
  EXPECT_TRUE(big.ok()) << big.error_message();
  EXPECT_EQ(resp.results_size(), 4);
  ExpectOneRefusalCounted("inflight_bytes");
}

// A connection holds at most --max_concurrent_streams calls open: the
// client's next call waits on its side, never reaching the server, until
// one ends; none fails for it.
TEST_F(ServingTest, AConnectionOpensAtMostMaxConcurrentStreamsCalls) {
  ServerOptions o = Options();
  o.transport.max_concurrent_streams = 1;
  ASSERT_NO_FATAL_FAILURE(Start(o));
  v1::ClassifyResponse resp;
  // The connection is up and the client has the server's settings.
  ASSERT_TRUE(Classify(Sst2(1), &resp).ok());
  gate_.Close();
  grpc::Status first, second;
  std::thread t1 = ClassifyAsync(Sst2(1), &first);
  ASSERT_TRUE(gate_.AwaitHeld(1));
  std::thread t2 = ClassifyAsync(Sst2(1), &second);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(Metric(Metrics(), "beex_inflight_requests", {{"model", "sst2"}}),
            1);
  gate_.Open();
  t1.join();
  t2.join();
  EXPECT_TRUE(first.ok()) << first.error_message();
  EXPECT_TRUE(second.ok()) << second.error_message();
}

// gRPC's memory quota bounds what its connections buffer: a request larger
// than the quota is refused RESOURCE_EXHAUSTED instead of being read into
// memory, and requests that fit are served on.
TEST_F(ServingTest, TransportMemoryQuotaRefusesWhatItCannotBuffer) {
  ServerOptions o = Options();
  o.before_batch = nullptr;
  o.transport.memory_bytes = size_t{1} << 20;
  o.transport.max_receive_message_bytes = 8 << 20;
  ASSERT_NO_FATAL_FAILURE(Start(o));
  v1::ClassifyRequest big;
  big.set_model("sst2");
  const std::string text(15000, 'a');
  for (int i = 0; i < 250; ++i) big.add_inputs()->set_text(text);
  ASSERT_GT(big.ByteSizeLong(), size_t{3} << 20);
  v1::ClassifyResponse resp;
  const grpc::Status refused = Classify(big, &resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  Connect(grpc::InsecureChannelCredentials());
  const grpc::Status small = Classify(Sst2(2), &resp);
  EXPECT_TRUE(small.ok()) << small.error_message();
  EXPECT_EQ(resp.results_size(), 2);
}

TEST_F(ServingTest, RequestLimitMustFitTheQueue) {
  ServerOptions o = Options();
  o.limits.max_inputs = 64;
  o.batching.max_queue = 16;
  auto s = BeexServer::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("--max_inputs (64) must not exceed --max_queue (16)"));

  // A model's own queue counts, not the server's.
  o.batching.max_queue = 4096;
  o.models[0].batching.max_queue = 32;
  s = BeexServer::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("must not exceed --max_queue (32) of model sst2"));
}

// Per-model batching: sst2 cuts batches of 2 while stsb keeps the server's 8,
// GetModelInfo says so, and a reload keeps each model's own settings.
TEST_F(ServingTest, EachModelBatchesWithItsOwnSettings) {
  ServerOptions o = Options();
  o.before_batch = nullptr;
  o.batching.max_batch_size = 8;
  o.batching.max_delay = absl::Milliseconds(50);
  auto sst2 = ParseModelFlag(
      absl::StrCat("sst2=", beex::testing::SourcePath("models/sst2.beex"),
                   ",max_batch_size=2,max_batch_delay_us=100"));
  ASSERT_TRUE(sst2.ok()) << sst2.status();
  o.models = {*sst2, {"stsb", beex::testing::SourcePath("models/stsb.beex")}};
  ASSERT_NO_FATAL_FAILURE(Start(o));

  auto info = [this](const std::string& model) {
    grpc::ClientContext ctx;
    v1::GetModelInfoRequest req;
    req.set_model(model);
    v1::ModelInfo out;
    EXPECT_TRUE(stub_->GetModelInfo(&ctx, req, &out).ok());
    return out.batching();
  };
  auto send_both = [this] {
    v1::ClassifyResponse classified;
    ASSERT_TRUE(Classify(Sst2(6), &classified).ok());
    ASSERT_EQ(classified.results_size(), 6);
    v1::RegressRequest req;
    req.set_model("stsb");
    for (int i = 0; i < 6; ++i) {
      auto* in = req.add_inputs();
      in->set_text("A dog runs across the yard.");
      in->set_text_pair("A dog is running outside.");
    }
    grpc::ClientContext ctx;
    v1::RegressResponse regressed;
    ASSERT_TRUE(stub_->Regress(&ctx, req, &regressed).ok());
    ASSERT_EQ(regressed.results_size(), 6);
  };
  const beex::testing::PromLabels sst2_label = {{"model", "sst2"}};
  const beex::testing::PromLabels stsb_label = {{"model", "stsb"}};
  for (int round = 1; round <= 2; ++round) {
    SCOPED_TRACE(round == 1 ? "as started" : "after a reload");
    EXPECT_EQ(info("sst2").max_batch_size(), 2u);
    EXPECT_EQ(info("sst2").max_batch_delay_us(), 100u);
    EXPECT_EQ(info("stsb").max_batch_size(), 8u);
    EXPECT_EQ(info("stsb").max_batch_delay_us(), 50000u);
    EXPECT_EQ(info("stsb").max_queue(), o.batching.max_queue);
    ASSERT_NO_FATAL_FAILURE(send_both());
    // Six inputs queued at once: three full batches of 2 for sst2, and one
    // batch of 6 for stsb, cut by its delay.
    const auto m = Metrics();
    EXPECT_EQ(Metric(m, "beex_batch_size_count", sst2_label), 3 * round);
    EXPECT_EQ(Metric(m, "beex_batch_size_sum", sst2_label), 6 * round);
    EXPECT_EQ(Metric(m, "beex_batch_size_count", stsb_label), round);
    EXPECT_EQ(Metric(m, "beex_batch_size_sum", stsb_label), 6 * round);
    if (round == 1) {
      ASSERT_TRUE(server_->Reload().ok());
    }
  }
}

TEST_F(ServingTest, MetricsAgreeWithTheCallsSent) {
  ServerOptions o = Options();
  o.before_batch = nullptr;
  o.batching.max_batch_size = 4;
  o.batching.max_delay = absl::Microseconds(200);
  ASSERT_NO_FATAL_FAILURE(Start(o));
  constexpr int kCalls = 5, kInputs = 3;
  int exits_at_first = 0;
  for (int i = 0; i < kCalls; ++i) {
    v1::ClassifyResponse resp;
    ASSERT_TRUE(Classify(Sst2(kInputs), &resp).ok());
    for (const auto& r : resp.results()) exits_at_first += r.exit_layer() == 1;
  }
  v1::ClassifyResponse resp;
  v1::ClassifyRequest bad = Sst2(1);
  bad.mutable_inputs(0)->set_text("");
  EXPECT_EQ(Classify(bad, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad.set_model("no-such-model");
  EXPECT_EQ(Classify(bad, &resp).error_code(), grpc::StatusCode::NOT_FOUND);

  const auto m = Metrics();
  const beex::testing::PromLabels sst2 = {{"model", "sst2"}};
  EXPECT_EQ(Metric(m, "beex_requests_total",
                   {{"model", "sst2"}, {"method", "Classify"}, {"code", "OK"}}),
            kCalls);
  EXPECT_EQ(Metric(m, "beex_requests_total",
                   {{"model", "sst2"},
                    {"method", "Classify"},
                    {"code", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(Metric(m, "beex_requests_total",
                   {{"model", "(unknown)"},
                    {"method", "Classify"},
                    {"code", "NOT_FOUND"}}),
            1);
  EXPECT_EQ(Metric(m, "beex_request_duration_seconds_count",
                   {{"model", "sst2"}, {"method", "Classify"}}),
            kCalls + 1);
  EXPECT_EQ(Metric(m, "beex_exit_layer_count", sst2), kCalls * kInputs);
  EXPECT_EQ(
      Metric(m, "beex_exit_layer_bucket", {{"model", "sst2"}, {"le", "1"}}),
      exits_at_first);
  EXPECT_EQ(
      Metric(m, "beex_exit_layer_bucket", {{"model", "sst2"}, {"le", "6"}}),
      kCalls * kInputs);
  EXPECT_EQ(Metric(m, "beex_batch_size_sum", sst2), kCalls * kInputs);
  EXPECT_EQ(Metric(m, "beex_queue_duration_seconds_count", sst2),
            kCalls * kInputs);
  EXPECT_GE(Metric(m, "beex_compute_duration_seconds_count", sst2), kCalls);
  EXPECT_GT(Metric(m, "beex_block_flops_saved_total", sst2), 0);
  EXPECT_EQ(Metric(m, "beex_queue_depth", sst2), 0);
  EXPECT_EQ(Metric(m, "beex_inflight_requests", sst2), 0);
  auto health = beex::testing::HttpGet(server_->metrics_port(), "/healthz");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
}

TEST_F(ServingTest, HealthFollowsLoadingServingAndDraining) {
  ServerOptions o = Options();
  o.before_batch = nullptr;
  auto created = BeexServer::Create(o);
  ASSERT_TRUE(created.ok()) << created.status();
  server_ = *std::move(created);
  Connect(grpc::InsecureChannelCredentials());
  // Listening, models not loaded yet.
  EXPECT_EQ(*beex::testing::HealthCheck(channel_, ""),
            ServingStatus::NOT_SERVING);
  EXPECT_EQ(*beex::testing::HealthCheck(channel_, "beex.v1.Inference"),
            ServingStatus::NOT_SERVING);
  EXPECT_EQ(beex::testing::HttpGet(server_->metrics_port(), "/readyz")->status,
            503);
  v1::ClassifyResponse resp;
  EXPECT_EQ(Classify(Sst2(1), &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(server_->LoadModels().ok());
  EXPECT_EQ(*beex::testing::HealthCheck(channel_, ""), ServingStatus::SERVING);
  EXPECT_EQ(*beex::testing::HealthCheck(channel_, "beex.v1.Inference"),
            ServingStatus::SERVING);
  EXPECT_EQ(beex::testing::HttpGet(server_->metrics_port(), "/readyz")->status,
            200);
  EXPECT_TRUE(Classify(Sst2(1), &resp).ok());

  // Reflection lists the services for grpcurl and friends.
  auto services = beex::testing::ReflectionListServices(channel_);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, HasSubstr("beex.v1.Inference"));
  EXPECT_THAT(*services, HasSubstr("grpc.health.v1.Health"));

  server_->Shutdown(absl::Seconds(5));
  EXPECT_FALSE(server_->serving());
  // After the drain the port is closed: nothing answers SERVING.
  auto after = beex::testing::HealthCheck(channel_, "");
  EXPECT_TRUE(!after.ok() || *after != ServingStatus::SERVING);
}

// A bounded load test: 16 clients, mixed request sizes, a few seconds; every
// call answered OK and counted once.
TEST_F(ServingTest, LoadTestLosesNothing) {
  ServerOptions o = Options();
  o.before_batch = nullptr;
  o.batching.max_batch_size = 16;
  o.batching.max_batch_tokens = 512;
  o.batching.max_delay = absl::Microseconds(1000);
  ASSERT_NO_FATAL_FAILURE(Start(o));
  std::atomic<int> ok = 0, failed = 0, inputs = 0;
  std::vector<std::thread> clients;
  const absl::Time end = absl::Now() + absl::Seconds(3);
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; absl::Now() < end; ++i) {
        const int n = 1 + (c + i) % 7;
        v1::ClassifyResponse resp;
        const grpc::Status s = Classify(Sst2(n), &resp);
        if (s.ok() && resp.results_size() == n) {
          ++ok;
          inputs += n;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 16);
  const auto m = Metrics();
  EXPECT_EQ(Metric(m, "beex_requests_total",
                   {{"model", "sst2"}, {"method", "Classify"}, {"code", "OK"}}),
            ok);
  EXPECT_EQ(Metric(m, "beex_exit_layer_count", {{"model", "sst2"}}), inputs);
  EXPECT_EQ(server_->runner("sst2")->computed(), static_cast<uint64_t>(inputs));
}

}  // namespace
}  // namespace beex
