// Faults while the server works, over a real channel on loopback: a client
// that leaves mid-batch, a batch whose compute throws, a reload that fails
// halfway through the models, a drain at peak load, and memory that returns
// to its baseline after rounds of all of them.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "beex/v1/inference.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/integration/serving_fixture.h"
#include "tests/test_util.h"

namespace beex {
namespace {

using ::beex::testing::WaitFor;
using ::testing::HasSubstr;

// The serving fixture, plus a fault switch: the next batch's compute throws.
class FaultInjectionTest : public beex::testing::ServingFixture {
 protected:
  ServerOptions Options() {
    ServerOptions o = ServingFixture::Options();
    o.drain_quiet = absl::Milliseconds(100);
    o.before_batch = [this](const std::string&) {
      if (throw_next_.exchange(false)) {
        throw std::runtime_error("injected fault");
      }
      gate_.Pass();
    };
    return o;
  }

  void ExpectServes() {
    v1::ClassifyResponse resp;
    const grpc::Status s = Classify(Sst2(2), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.results_size(), 2);
  }

  std::atomic<bool> throw_next_ = false;
};

// Resident memory of this process, in bytes.
size_t ResidentBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      size_t kb = 0;
      std::string digits = line.substr(6);
      digits.resize(digits.find("kB"));
      EXPECT_TRUE(absl::SimpleAtoi(digits, &kb)) << line;
      return kb * 1024;
    }
  }
  ADD_FAILURE() << "no VmRSS in /proc/self/status";
  return 0;
}

TEST_F(FaultInjectionTest, ClientLeavingMidBatchLeavesTheOthersServed) {
  ServerOptions o = Options();
  o.batching.max_batch_size = 2;
  o.batching.max_delay = absl::Seconds(10);  // only full batches are cut
  ASSERT_NO_FATAL_FAILURE(Start(o));
  auto runner = server_->runner("sst2");
  gate_.Close();
  grpc::ClientContext leaving_ctx;
  leaving_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  grpc::Status leaving, staying;
  std::thread a([&] {
    v1::ClassifyResponse resp;
    leaving = stub_->Classify(&leaving_ctx, Sst2(1), &resp);
  });
  std::thread b([&] {
    v1::ClassifyResponse resp;
    staying = Classify(Sst2(1), &resp);
    EXPECT_EQ(resp.results_size(), 1);
  });
  ASSERT_TRUE(gate_.AwaitHeld(1));  // both inputs are in the held batch
  leaving_ctx.TryCancel();
  a.join();
  EXPECT_EQ(leaving.error_code(), grpc::StatusCode::CANCELLED);
  gate_.Open();
  b.join();
  EXPECT_TRUE(staying.ok()) << staying.error_message();
  EXPECT_EQ(runner->computed(), 2u);  // the batch ran; the answer was dropped
  ExpectServes();
}

TEST_F(FaultInjectionTest, ABatchThatThrowsFailsOnlyItsCalls) {
  ServerOptions o = Options();
  o.batching.max_batch_size = 4;
  ASSERT_NO_FATAL_FAILURE(Start(o));
  auto runner = server_->runner("sst2");
  throw_next_ = true;
  v1::ClassifyResponse resp;
  const grpc::Status s = Classify(Sst2(2), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(s.error_message(),
              HasSubstr("computing the batch failed: injected fault"));
  EXPECT_EQ(runner->failed(), 2u);
  // The worker survived and serves the next calls.
  ExpectServes();
  ExpectServes();
  EXPECT_THAT(server_->metrics().Render(),
              HasSubstr("beex_dropped_requests_total{model=\"sst2\",reason="
                        "\"error\"} 1"));
}

// A reload whose second model is a half-written file: the first model takes
// its new version, the second keeps serving its old one, and the status says
// which failed and why.
TEST_F(FaultInjectionTest, ReloadFailingHalfwayKeepsEveryModelServing) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "fault_reload";
  std::filesystem::create_directories(dir);
  const std::string sst2 = (dir / "sst2.beex").string();
  const std::string stsb = (dir / "stsb.beex").string();
  std::filesystem::copy_file(beex::testing::SourcePath("models/sst2.beex"),
                             sst2,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(beex::testing::SourcePath("models/stsb.beex"),
                             stsb,
                             std::filesystem::copy_options::overwrite_existing);
  ServerOptions o = Options();
  o.models = {{"sst2", sst2}, {"stsb", stsb}};
  ASSERT_NO_FATAL_FAILURE(Start(o));
  const auto old_sst2 = server_->runner("sst2");
  const auto old_stsb = server_->runner("stsb");

  const std::string whole = beex::testing::ReadFile(stsb);
  std::ofstream(stsb, std::ios::binary | std::ios::trunc)
      << whole.substr(0, whole.size() / 2);
  const absl::Status reload = server_->Reload();
  EXPECT_EQ(reload.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(reload.message(), HasSubstr("model stsb from " + stsb));
  EXPECT_NE(server_->runner("sst2"), old_sst2) << "sst2 was not reloaded";
  EXPECT_EQ(server_->runner("stsb"), old_stsb) << "stsb lost its old version";

  ExpectServes();
  v1::RegressRequest req;
  req.set_model("stsb");
  req.add_inputs()->set_text("A dog runs on the beach.");
  req.mutable_inputs(0)->set_text_pair("A dog is running by the sea.");
  grpc::ClientContext ctx;
  v1::RegressResponse resp;
  const grpc::Status s = stub_->Regress(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.results_size(), 1);

  std::ofstream(stsb, std::ios::binary | std::ios::trunc) << whole;
  EXPECT_TRUE(server_->Reload().ok());
  EXPECT_NE(server_->runner("stsb"), old_stsb);
}

// A drain that starts while clients fill the queue: every call is either
// answered in full or refused at the door (RESOURCE_EXHAUSTED while the
// queue is full, UNAVAILABLE once draining), never cut off mid-way.
TEST_F(FaultInjectionTest, DrainAtPeakLoadLosesNoAcceptedCall) {
  ServerOptions o = Options();
  o.before_batch = nullptr;
  o.batching.max_batch_size = 16;
  o.batching.max_queue = 64;
  o.limits.max_inputs = 8;
  ASSERT_NO_FATAL_FAILURE(Start(o));
  std::atomic<bool> stop = false;
  std::atomic<int> calls = 0;
  absl::Mutex mu;
  std::map<grpc::StatusCode, int> codes;
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] {
      while (!stop) {
        const int n = 1 + (i % 8);
        v1::ClassifyResponse resp;
        const grpc::Status s = Classify(Sst2(n), &resp);
        ++calls;
        if (s.ok()) {
          EXPECT_EQ(resp.results_size(), n);
        }
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
          stop = true;  // the balancer moves every client elsewhere
        }
        absl::MutexLock lock(&mu);
        ++codes[s.error_code()];
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return calls >= 300; }));
  auto runner = server_->runner("sst2");
  server_->Shutdown(absl::Seconds(20));
  for (auto& t : clients) t.join();
  absl::MutexLock lock(&mu);
  for (const auto& [code, n] : codes) {
    EXPECT_TRUE(code == grpc::StatusCode::OK ||
                code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                code == grpc::StatusCode::UNAVAILABLE)
        << n << " call(s) ended with code " << code;
  }
  EXPECT_GT(codes[grpc::StatusCode::OK], 0);
  EXPECT_EQ(runner->dropped(), 0u);
  EXPECT_EQ(runner->failed(), 0u);
}

// Rounds of every fault above; resident memory after ten more rounds stays
// within 8 MB of where it was after three (measured growth: 1.2-1.6 MB). A
// model kept alive by a reload (about 8 MB each) or a batch's buffers kept
// per fault would break that bound; a few hundred bytes per call would not,
// and is LeakSanitizer's to find (asan-ubsan preset). Sanitizer builds inflate
// memory, so the figure is only checked in plain builds.
TEST_F(FaultInjectionTest, MemoryReturnsToItsBaselineAfterRoundsOfFaults) {
  ServerOptions o = Options();
  o.batching.max_batch_size = 8;
  o.batching.max_queue = 32;
  o.limits.max_inputs = 32;
  ASSERT_NO_FATAL_FAILURE(Start(o));
  auto round = [&] {
    for (int i = 0; i < 40; ++i) {
      throw_next_ = (i % 10 == 0);  // a failed batch now and then
      grpc::ClientContext ctx;
      if (i % 3 == 0) {
        ctx.set_deadline(
            absl::ToChronoTime(absl::Now() + absl::Microseconds(200)));
      }
      v1::ClassifyResponse resp;
      stub_->Classify(&ctx, Sst2(1 + i % 32), &resp);  // any outcome
    }
    std::vector<std::thread> burst;  // overload: some RESOURCE_EXHAUSTED
    for (int i = 0; i < 8; ++i) {
      burst.emplace_back([&] {
        v1::ClassifyResponse resp;
        Classify(Sst2(32), &resp);
      });
    }
    for (auto& t : burst) t.join();
    EXPECT_TRUE(server_->Reload().ok());
  };
  for (int i = 0; i < 3; ++i) round();  // warm: caches, arenas, pools
  const size_t baseline = ResidentBytes();
  for (int i = 0; i < 10; ++i) round();
  const size_t after = ResidentBytes();
  std::printf("resident: %zu -> %zu bytes\n", baseline, after);
  ExpectServes();
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "resident memory is not meaningful under sanitizers";
#else
  EXPECT_LT(after, baseline + (8u << 20))
      << "resident memory grew from " << baseline << " to " << after;
#endif
}

}  // namespace
}  // namespace beex
