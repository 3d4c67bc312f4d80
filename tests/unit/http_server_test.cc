#include "server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "gtest/gtest.h"
#include "server/metrics.h"
#include "tests/prometheus_text.h"

namespace beex {
namespace {

struct Reply {
  int status = 0;  // 0: no connection or no HTTP reply
  std::string head;
  std::string body;
};

// One HTTP/1.0 request over a plain socket, so the test does not trust the
// library it tests.
Reply Request(int port, const std::string& method, const std::string& path) {
  Reply r;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return r;
  }
  const std::string req =
      method + " " + path + " HTTP/1.0\r\nHost: localhost\r\n" +
      (method == "POST" ? "Content-Length: 0\r\n" : "") + "\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(req.size())) {
    close(fd);
    return r;
  }
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) all.append(buf, n);
  close(fd);
  const size_t split = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.", 0) != 0 || split == std::string::npos) return r;
  r.status = std::stoi(all.substr(9, 3));
  r.head = all.substr(0, split);
  r.body = all.substr(split + 4);
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = registry_.AddCounter("t_scrapes_total", "Scrapes.", {});
    ASSERT_TRUE(c.ok());
    counter_ = *c;
    HttpServer::Handlers h;
    h.metrics = [this] {
      counter_->Get({}).Inc();
      return registry_.Render();
    };
    h.ready = [this] { return ready_.load(); };
    auto s = HttpServer::Start("127.0.0.1", 0, std::move(h));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }

  metrics::Registry registry_;
  metrics::CounterFamily* counter_ = nullptr;
  std::atomic<bool> ready_{false};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesMetricsInTheTextFormat) {
  ASSERT_GT(server_->port(), 0);
  const Reply r = Request(server_->port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"),
            std::string::npos)
      << r.head;
  auto parsed = beex::testing::ParsePrometheusText(r.body);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << r.body;
  EXPECT_EQ(parsed->Value("t_scrapes_total"), 1);
  EXPECT_EQ(beex::testing::ParsePrometheusText(
                Request(server_->port(), "GET", "/metrics").body)
                ->Value("t_scrapes_total"),
            2);
}

TEST_F(HttpServerTest, HealthAndReadiness) {
  EXPECT_EQ(Request(server_->port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(Request(server_->port(), "GET", "/readyz").status, 503);
  ready_ = true;
  EXPECT_EQ(Request(server_->port(), "GET", "/readyz").status, 200);
  ready_ = false;
  EXPECT_EQ(Request(server_->port(), "GET", "/readyz").status, 503);
}

TEST_F(HttpServerTest, EverythingElseIsNotFound) {
  const Reply r = Request(server_->port(), "GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "not found\n");
  EXPECT_EQ(Request(server_->port(), "GET", "/").status, 404);
  EXPECT_EQ(Request(server_->port(), "GET", "/metricsx").status, 404);
  EXPECT_EQ(Request(server_->port(), "POST", "/metrics").status, 404);
}

TEST_F(HttpServerTest, StopClosesThePortAndIsIdempotent) {
  const int port = server_->port();
  ASSERT_EQ(Request(port, "GET", "/healthz").status, 200);
  server_->Stop();
  EXPECT_EQ(Request(port, "GET", "/healthz").status, 0);
  server_->Stop();
  server_.reset();
}

TEST_F(HttpServerTest, APortInUseIsAnError) {
  auto second = HttpServer::Start("127.0.0.1", server_->port(), {});
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(Request(server_->port(), "GET", "/healthz").status, 200);
}

TEST(HttpServerStartTest, RefusesBadPortsAndHosts) {
  EXPECT_EQ(HttpServer::Start("127.0.0.1", -1, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer::Start("127.0.0.1", 70000, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(HttpServer::Start("192.0.2.1", 0, {}).ok());
}

TEST(HttpServerStartTest, WithoutReadinessCallbackItIsReady) {
  auto s = HttpServer::Start("127.0.0.1", 0, {});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Request((*s)->port(), "GET", "/readyz").status, 200);
  const Reply r = Request((*s)->port(), "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
}

}  // namespace
}  // namespace beex
