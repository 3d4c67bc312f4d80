// The floor under the serving benchmark (bench/serving_bench.sh): a gRPC
// server of beex's API that computes nothing. Classify and ClassifyStream
// answer each request at once with a result of the real server's shape, on
// gRPC's callback API as beex-server is built. Its CPU per request, measured
// with the load generator beex-server gets, is what gRPC itself costs a
// request on this machine: no server on gRPC can spend less, so the engine's
// CPU per input over (engine + floor) bounds the ratio any of them can reach.
//
//   grpc_floor_server --port 50051
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "beex/v1/inference.grpc.pb.h"

ABSL_FLAG(int, port, 50051, "Port to listen on, on 127.0.0.1");
ABSL_FLAG(bool, async, false,
          "Serve ClassifyStream on a completion queue polled by a thread of "
          "its own instead of gRPC's callback API");

namespace {

using beex::v1::ClassifyRequest;
using beex::v1::ClassifyResponse;
using beex::v1::ClassifyStreamResponse;

void Answer(const ClassifyRequest& request, ClassifyResponse* response) {
  response->set_model(request.model());
  for (int i = 0; i < request.inputs_size(); ++i) {
    auto* r = response->add_results();
    r->set_label("positive");
    r->set_label_index(1);
    r->add_scores(0.12f);
    r->add_scores(0.88f);
    r->set_exit_layer(1);
    r->set_num_layers(6);
    r->set_num_tokens(
        static_cast<uint32_t>(request.inputs(i).text().size() / 4));
    r->mutable_timing()->set_queue_us(100);
    r->mutable_timing()->set_compute_us(100);
    r->mutable_timing()->set_total_us(200);
  }
}

// Reads ahead like beex-server's streams do and writes the answers in order,
// one write at a time.
class EchoStream final
    : public grpc::ServerBidiReactor<ClassifyRequest, ClassifyStreamResponse> {
 public:
  static EchoStream* Start() {
    auto stream = std::make_unique<EchoStream>();
    EchoStream* raw = stream.get();
    raw->self_ = std::move(stream);  // until OnDone
    raw->StartRead(&raw->reading_);
    return raw;
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      reads_done_ = true;
      FinishIfDoneLocked();
      return;
    }
    ClassifyStreamResponse answer;
    Answer(reading_, answer.mutable_response());
    unwritten_.push_back(std::move(answer));
    StartRead(&reading_);
    WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      unwritten_.clear();
      reads_done_ = true;
    }
    WriteNextLocked();
    FinishIfDoneLocked();
  }

  void OnDone() override { self_.reset(); }  // the last touch of this

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || unwritten_.empty()) return;
    written_ = std::move(unwritten_.front());
    unwritten_.pop_front();
    writing_ = true;
    StartWrite(&written_);
  }
  void FinishIfDoneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reads_done_ && !writing_ && unwritten_.empty() && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  absl::Mutex mu_;
  ClassifyRequest reading_;
  ClassifyStreamResponse written_;
  std::deque<ClassifyStreamResponse> unwritten_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<EchoStream> self_;
};

// The same stream on gRPC's completion-queue API, driven by one thread that
// polls the queue itself (--async): no hand-off between gRPC's threads.
class AsyncEcho {
 public:
  enum Kind { kNew, kRead, kWrite, kFinish, kDone };
  struct Tag {
    AsyncEcho* stream;
    Kind kind;
  };

  AsyncEcho(beex::v1::Inference::AsyncService* service,
            grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq) {
    context_.AsyncNotifyWhenDone(&tags_[kDone]);
    service_->RequestClassifyStream(&context_, &stream_, cq_, cq_,
                                    &tags_[kNew]);
  }

  // Handles one completion; false when the stream is over and may go.
  bool On(Kind kind, bool ok,
          std::vector<std::unique_ptr<AsyncEcho>>& started) {
    switch (kind) {
      case kNew:
        if (!ok) return false;  // shutting down
        started.push_back(std::make_unique<AsyncEcho>(service_, cq_));
        reading_ = true;
        stream_.Read(&request_, &tags_[kRead]);
        break;
      case kRead:
        reading_ = false;
        if (ok) {
          ClassifyStreamResponse answer;
          Answer(request_, answer.mutable_response());
          unwritten_.push_back(std::move(answer));
          reading_ = true;
          stream_.Read(&request_, &tags_[kRead]);
        } else {
          reads_done_ = true;
        }
        break;
      case kWrite:
        writing_ = false;
        if (!ok) {
          unwritten_.clear();
          reads_done_ = true;
        }
        break;
      case kFinish:
        finishing_ = false;
        break;
      case kDone:
        done_ = true;
        break;
    }
    if (!writing_ && !unwritten_.empty() && !finished_) {
      written_ = std::move(unwritten_.front());
      unwritten_.pop_front();
      writing_ = true;
      stream_.Write(written_, &tags_[kWrite]);
    }
    if (reads_done_ && !writing_ && unwritten_.empty() && !finished_) {
      finished_ = finishing_ = true;
      stream_.Finish(grpc::Status::OK, &tags_[kFinish]);
    }
    return !(done_ && !reading_ && !writing_ && !finishing_);
  }

 private:
  beex::v1::Inference::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<ClassifyStreamResponse, ClassifyRequest>
      stream_{&context_};
  Tag tags_[5] = {{this, kNew},
                  {this, kRead},
                  {this, kWrite},
                  {this, kFinish},
                  {this, kDone}};
  ClassifyRequest request_;
  ClassifyStreamResponse written_;
  std::deque<ClassifyStreamResponse> unwritten_;
  bool reading_ = false, writing_ = false, reads_done_ = false;
  bool finishing_ = false, finished_ = false, done_ = false;
};

void ServeAsync(beex::v1::Inference::AsyncService* service,
                grpc::ServerCompletionQueue* cq) {
  std::map<AsyncEcho*, std::unique_ptr<AsyncEcho>> streams;
  std::vector<std::unique_ptr<AsyncEcho>> started;
  started.push_back(std::make_unique<AsyncEcho>(service, cq));
  while (true) {
    for (auto& s : started) streams[s.get()] = std::move(s);
    started.clear();
    void* tag = nullptr;
    bool ok = false;
    if (!cq->Next(&tag, &ok)) return;
    auto* t = static_cast<AsyncEcho::Tag*>(tag);
    if (!t->stream->On(t->kind, ok, started)) streams.erase(t->stream);
  }
}

class FloorService final : public beex::v1::Inference::CallbackService {
  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const ClassifyRequest* request,
                                     ClassifyResponse* response) override {
    Answer(*request, response);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerBidiReactor<ClassifyRequest, ClassifyStreamResponse>*
  ClassifyStream(grpc::CallbackServerContext*) override {
    return EchoStream::Start();
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "beex's API over gRPC with no compute behind it, on 127.0.0.1 until "
      "SIGINT or SIGTERM:\n  grpc_floor_server --port 50051 [--async]");
  if (std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
      rest.size() > 1) {
    std::cerr << "unexpected argument: " << rest[1] << "\n";
    return 2;
  }
  const int port_number = absl::GetFlag(FLAGS_port);
  if (port_number <= 0 || port_number > 65535) {
    std::cerr << "--port must be in 1..65535\n";
    return 2;
  }
  const std::string port = std::to_string(port_number);
  const bool async = absl::GetFlag(FLAGS_async);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  grpc::EnableDefaultHealthCheckService(true);
  FloorService service;
  beex::v1::Inference::AsyncService async_service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + port,
                           grpc::InsecureServerCredentials());
  if (async) {
    builder.RegisterService(&async_service);
  } else {
    builder.RegisterService(&service);
  }
  std::unique_ptr<grpc::ServerCompletionQueue> cq =
      async ? builder.AddCompletionQueue() : nullptr;
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::cerr << "cannot listen on 127.0.0.1:" << port << "\n";
    return 1;
  }
  std::thread poller;
  if (async) poller = std::thread(ServeAsync, &async_service, cq.get());
  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  if (async) {
    cq->Shutdown();
    poller.join();
  }
  return 0;
}
