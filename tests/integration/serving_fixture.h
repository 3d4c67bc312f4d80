#ifndef BEEX_TESTS_INTEGRATION_SERVING_FIXTURE_H_
#define BEEX_TESTS_INTEGRATION_SERVING_FIXTURE_H_

// A beex server on loopback for tests of it as operators run it
// (serving_test, fault_injection_test): sst2 with small batches, a gate in
// front of every batch, the metrics port on, and a client stub.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "beex/v1/inference.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/integration/serving_test_util.h"
#include "tests/prometheus_text.h"
#include "tests/test_util.h"

namespace beex::testing {

class ServingFixture : public ::testing::Test {
 protected:
  // sst2 served with small batches, the gate in front of every batch, and
  // the metrics port on.
  ServerOptions Options() {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.models = {{"sst2", SourcePath("models/sst2.beex")}};
    o.batching.max_batch_size = 1;
    o.batching.max_delay = absl::ZeroDuration();
    o.metrics_port = 0;
    o.tokenizer_threads = 2;
    o.before_batch = [this](const std::string&) { gate_.Pass(); };
    return o;
  }

  void Start(const ServerOptions& o) {
    auto s = BeexServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    Connect(grpc::InsecureChannelCredentials());
  }
  void Connect(std::shared_ptr<grpc::ChannelCredentials> creds) {
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()), creds);
    stub_ = v1::Inference::NewStub(channel_);
  }

  void TearDown() override {
    gate_.Open();
    server_.reset();
  }

  static v1::ClassifyRequest Sst2(int inputs) {
    v1::ClassifyRequest r;
    r.set_model("sst2");
    for (int i = 0; i < inputs; ++i) {
      r.add_inputs()->set_text(i % 2 ? "a dull, lifeless film"
                                     : "a gripping, beautifully acted film");
    }
    return r;
  }

  grpc::Status Classify(const v1::ClassifyRequest& req,
                        v1::ClassifyResponse* resp,
                        absl::Duration timeout = absl::Seconds(30)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return stub_->Classify(&ctx, req, resp);
  }

  // Runs Classify on a thread of its own; the status lands in `out`.
  std::thread ClassifyAsync(v1::ClassifyRequest req, grpc::Status* out,
                            absl::Duration timeout = absl::Seconds(30)) {
    return std::thread([this, req = std::move(req), out, timeout] {
      v1::ClassifyResponse resp;
      *out = Classify(req, &resp, timeout);
    });
  }

  PromText Metrics() {
    auto reply = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, 200);
    auto text = ParsePrometheusText(reply->body);
    EXPECT_TRUE(text.ok()) << text.status() << "\n" << reply->body;
    return text.ok() ? *text : PromText{};
  }
  double Metric(const PromText& text, const std::string& name,
                const PromLabels& labels) {
    return text.Value(name, labels).value_or(-1);
  }

  Gate gate_;
  std::unique_ptr<BeexServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

}  // namespace beex::testing

#endif  // BEEX_TESTS_INTEGRATION_SERVING_FIXTURE_H_
