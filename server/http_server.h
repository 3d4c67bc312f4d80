#ifndef BEEX_SERVER_HTTP_SERVER_H_
#define BEEX_SERVER_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace beex {

// The operations port: GET /metrics (Prometheus text), /healthz (200 while
// the process serves HTTP at all) and /readyz (200 only while `ready` says
// so, else 503). Anything else is 404. Its own small thread pool, so scrapes
// and probes never take a gRPC or model thread.
class HttpServer {
  struct Private {
    explicit Private() = default;
  };

 public:
  struct Handlers {
    std::function<std::string()> metrics;  // the /metrics body
    std::function<bool()> ready;           // unset: always ready
  };

  // Binds host:port (port 0 picks a free one, see port()) and serves on a
  // background thread until Stop or destruction. A port already in use is
  // an error: SO_REUSEPORT, httplib's default, would let two servers share
  // it silently.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& host, int port, Handlers handlers);

  HttpServer(Private, Handlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Closes the listening socket, finishes requests being served and joins
  // the threads. Idempotent.
  void Stop();

 private:
  Handlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace beex

#endif  // BEEX_SERVER_HTTP_SERVER_H_
