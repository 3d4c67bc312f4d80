#ifndef BEEX_TESTS_INTEGRATION_SERVING_TEST_UTIL_H_
#define BEEX_TESTS_INTEGRATION_SERVING_TEST_UTIL_H_

// Helpers for tests of the server as operators see it: a gate that holds the
// model's worker, plain HTTP GET, grpc.health.v1 and server reflection
// probes, and a throwaway TLS certificate.

#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace beex::testing {

// Holds every batch before it computes while closed; ServerOptions'
// before_batch calls Pass.
class Gate {
 public:
  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  void Pass() {
    absl::MutexLock lock(&mu_);
    ++waiting_;
    mu_.Await(absl::Condition(&open_));
    --waiting_;
  }
  // Waits until `n` batches are held; false after `timeout`.
  bool AwaitHeld(int n, absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto held = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return waiting_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&held), timeout);
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

// Polls `done` every millisecond until it holds or `timeout` passes.
template <typename Fn>
bool WaitFor(Fn done, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time limit = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > limit) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

struct HttpReply {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:port/path over a plain socket (HTTP/1.0: the server
// closes the connection after the reply).
inline absl::StatusOr<HttpReply> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (send(fd, request.data(), request.size(), 0) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::InternalError("send");
  }
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, n);
  close(fd);
  HttpReply reply;
  if (raw.size() < 12 || raw.compare(0, 5, "HTTP/") != 0) {
    return absl::InternalError(absl::StrCat("not HTTP: ", raw));
  }
  reply.status = std::atoi(raw.c_str() + 9);
  const size_t body = raw.find("\r\n\r\n");
  if (body != std::string::npos) reply.body = raw.substr(body + 4);
  return reply;
}

// grpc.health.v1 Check for `service` ("" is the whole server).
inline absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus>
HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
            const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        s.error_message());
  }
  return resp.status();
}

// The raw reply of grpc.reflection.v1alpha's list_services: the serialized
// ServerReflectionResponse, in which every service name appears verbatim.
// (1.51's reflection library ships no headers, so the one-field request is
// written by hand: field 7, list_services = "*".)
inline absl::StatusOr<std::string> ReflectionListServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      &cq);
  auto step = [&cq](intptr_t want) {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(want);
  };
  absl::Status result = absl::OkStatus();
  std::string reply;
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) result = absl::UnavailableError("start");
  if (result.ok()) {
    grpc::Slice slice(std::string("\x3a\x01*", 3));
    grpc::ByteBuffer request(&slice, 1);
    call->Write(request, reinterpret_cast<void*>(2));
    if (!step(2)) result = absl::UnavailableError("write");
  }
  grpc::ByteBuffer response;
  if (result.ok()) {
    call->Read(&response, reinterpret_cast<void*>(3));
    if (!step(3)) result = absl::UnavailableError("read");
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  if (!result.ok()) return result;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("dump");
  for (const auto& s : slices) {
    reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return reply;
}

// A self-signed certificate for 127.0.0.1 and localhost, made with the
// openssl command in `dir`: {cert path, key path}.
inline absl::StatusOr<std::pair<std::string, std::string>> MakeCertificate(
    const std::string& dir) {
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ",
      key, " -out ", cert, " >/dev/null 2>&1");
  if (std::system(cmd.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("failed: ", cmd));
  }
  return std::make_pair(cert, key);
}

}  // namespace beex::testing

#endif  // BEEX_TESTS_INTEGRATION_SERVING_TEST_UTIL_H_
