#include "server/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "server/metrics.h"

namespace beex {
namespace {

// Scrapes and probes are small and rare; a few threads keep /healthz
// answering while one client is slow.
constexpr size_t kThreads = 4;
// Short timeouts bound how long Stop waits for an idle keep-alive connection
// or a client that sends nothing.
constexpr time_t kKeepAliveSeconds = 1;
constexpr time_t kReadWriteSeconds = 2;

}  // namespace

HttpServer::HttpServer(Private, Handlers handlers)
    : handlers_(std::move(handlers)),
      server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& host, int port, Handlers handlers) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP port ", port, " is not in 0..65535"));
  }
  auto self = std::make_unique<HttpServer>(Private{}, std::move(handlers));
  httplib::Server& svr = *self->server_;
  // httplib owns the queue it gets as a raw pointer.
  svr.new_task_queue = [] {
    return std::make_unique<httplib::ThreadPool>(kThreads).release();
  };
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  svr.set_keep_alive_timeout(kKeepAliveSeconds);
  svr.set_read_timeout(kReadWriteSeconds, 0);
  svr.set_write_timeout(kReadWriteSeconds, 0);

  const Handlers* h = &self->handlers_;
  svr.Get("/metrics", [h](const httplib::Request&, httplib::Response& res) {
    res.set_content(h->metrics ? h->metrics() : std::string(),
                    metrics::kContentType);
  });
  svr.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  svr.Get("/readyz", [h](const httplib::Request&, httplib::Response& res) {
    if (!h->ready || h->ready()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready\n", "text/plain");
    }
  });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(
          res.status == 404 ? "not found\n" : absl::StrCat(res.status, "\n"),
          "text/plain");
    }
  });

  const int bound = port == 0 ? svr.bind_to_any_port(host)
                              : (svr.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for HTTP on ", host, ":", port,
                     " (port in use, or not an address of this machine)"));
  }
  self->port_ = bound;

  auto exited = std::make_shared<std::atomic<bool>>(false);
  self->thread_ = std::thread([&svr, exited] {
    svr.listen_after_bind();
    exited->store(true);
  });
  // A stop() that comes before the accept loop runs would be lost and the
  // loop would never end, so return only once it runs.
  while (!svr.is_running() && !exited->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (exited->load()) {
    self->thread_.join();
    return absl::InternalError(
        absl::StrCat("HTTP server on ", host, ":", bound, " stopped at once"));
  }
  return self;
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace beex
