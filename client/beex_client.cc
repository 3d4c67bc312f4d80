// beex-client: calls a beex server from the command line.
//
//   beex-client classify --model sst2 "a gripping, beautifully acted film"
//   beex-client regress --model stsb "A man plays guitar." "A person plays."
//   beex-client classify --model sst2 < lines.txt     (one input per line,
//                                                      tab between a pair)
//   beex-client classify --model sst2 --stream --batch 1 < lines.txt
//   beex-client info --model sst2 | beex-client list
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "beex/v1/inference.grpc.pb.h"
#include "client/client_common.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(std::string, addr, "localhost:50051", "Server address, HOST:PORT");
ABSL_FLAG(std::string, model, "", "Model name (required except for list)");
ABSL_FLAG(bool, json, false, "Print one JSON object per result");
ABSL_FLAG(std::string, policy, "",
          "Exit policy: none, entropy, confidence, patience, "
          "entropy_reduction, learned (default: the model's)");
ABSL_FLAG(std::optional<double>, threshold, std::nullopt,
          "Exit policy threshold");
ABSL_FLAG(std::optional<int>, patience, std::nullopt,
          "Blocks that must agree, for the patience policy");
ABSL_FLAG(int, max_layers, 0, "Run at most this many blocks (0: all)");
ABSL_FLAG(int, batch, 32, "Inputs per request when reading stdin");
ABSL_FLAG(bool, stream, false,
          "Reading stdin: send the requests on one ClassifyStream or "
          "RegressStream instead of a call each (--timeout is then the "
          "whole stream's)");
ABSL_FLAG(double, timeout, 30, "Deadline per request, in seconds");
ABSL_FLAG(std::string, service, "",
          "For health: the service to ask about (\"\": the whole server)");

namespace {

using beex::client::CodeName;
using beex::v1::Inference;

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string Ms(uint64_t us) { return absl::StrFormat("%.2f ms", us / 1000.0); }

// Every call's deadline: without one, a server that never answers holds
// the client for ever.
std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() +
         std::chrono::milliseconds(
             static_cast<int64_t>(absl::GetFlag(FLAGS_timeout) * 1000));
}

class Client {
 public:
  explicit Client(std::shared_ptr<grpc::Channel> channel)
      : stub_(Inference::NewStub(channel)) {}

  // Sends one request of inputs; prints one line per result. False on error.
  bool Predict(bool regress, const std::vector<beex::v1::TextInput>& inputs,
               const beex::v1::ExitSettings& exit) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status;
    beex::v1::ClassifyResponse classified;
    beex::v1::RegressResponse regressed;
    if (regress) {
      beex::v1::RegressRequest request;
      request.set_model(absl::GetFlag(FLAGS_model));
      *request.mutable_inputs() = {inputs.begin(), inputs.end()};
      *request.mutable_exit() = exit;
      status = stub_->Regress(&context, request, &regressed);
    } else {
      beex::v1::ClassifyRequest request;
      request.set_model(absl::GetFlag(FLAGS_model));
      *request.mutable_inputs() = {inputs.begin(), inputs.end()};
      *request.mutable_exit() = exit;
      status = stub_->Classify(&context, request, &classified);
    }
    const auto round_trip_us =
        std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - start)
            .count();
    if (!status.ok()) {
      std::cerr << "error: " << CodeName(status.error_code()) << ": "
                << status.error_message() << "\n";
      return false;
    }
    if (regress) {
      PrintResults(regressed, inputs, round_trip_us);
    } else {
      PrintResults(classified, inputs, round_trip_us);
    }
    return true;
  }

  // Sends each batch as one request on a single stream: a writer thread
  // sends while this thread prints the answers, which come in request order.
  // A failed request is reported and the stream goes on.
  bool PredictStream(
      bool regress,
      const std::vector<std::vector<beex::v1::TextInput>>& batches,
      const beex::v1::ExitSettings& exit) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    if (regress) {
      return RunStream<beex::v1::RegressRequest,
                       beex::v1::RegressStreamResponse>(
          stub_->RegressStream(&context), batches, exit);
    }
    return RunStream<beex::v1::ClassifyRequest,
                     beex::v1::ClassifyStreamResponse>(
        stub_->ClassifyStream(&context), batches, exit);
  }

  bool Info(bool list) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    grpc::Status status;
    std::vector<beex::v1::ModelInfo> infos;
    if (list) {
      beex::v1::ListModelsResponse response;
      status = stub_->ListModels(&context, {}, &response);
      infos.assign(response.models().begin(), response.models().end());
    } else {
      beex::v1::GetModelInfoRequest request;
      request.set_model(absl::GetFlag(FLAGS_model));
      infos.emplace_back();
      status = stub_->GetModelInfo(&context, request, &infos.back());
    }
    if (!status.ok()) {
      std::cerr << "error: " << CodeName(status.error_code()) << ": "
                << status.error_message() << "\n";
      return false;
    }
    for (const auto& info : infos) {
      std::cout << (absl::GetFlag(FLAGS_json) ? ToJson(info)
                                              : info.DebugString())
                << "\n";
    }
    return true;
  }

 private:
  template <typename Request, typename StreamResponse>
  static bool RunStream(
      std::unique_ptr<grpc::ClientReaderWriter<Request, StreamResponse>> stream,
      const std::vector<std::vector<beex::v1::TextInput>>& batches,
      const beex::v1::ExitSettings& exit) {
    using Clock = std::chrono::steady_clock;
    absl::Mutex mu;
    std::deque<Clock::time_point> sent;  // one per request not yet answered
    std::thread writer([&] {
      for (const auto& batch : batches) {
        Request request;
        request.set_model(absl::GetFlag(FLAGS_model));
        *request.mutable_inputs() = {batch.begin(), batch.end()};
        *request.mutable_exit() = exit;
        {
          absl::MutexLock lock(&mu);
          sent.push_back(Clock::now());
        }
        if (!stream->Write(request)) break;  // the stream ended
      }
      stream->WritesDone();
    });
    bool ok = true, surplus = false;
    size_t answered = 0;
    StreamResponse answer;
    while (stream->Read(&answer)) {
      Clock::time_point start;
      {
        absl::MutexLock lock(&mu);
        if (sent.empty()) {
          // More answers than requests: a broken server. Read on to the
          // stream's end rather than leave the writer blocked.
          if (!surplus) std::cerr << "error: more answers than requests\n";
          surplus = true;
          ok = false;
          continue;
        }
        start = sent.front();
        sent.pop_front();
      }
      const auto round_trip_us =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                                start)
              .count();
      const auto& inputs = batches[answered++];
      if (answer.code() != 0) {
        std::cerr << "request " << answered << ": error: "
                  << CodeName(static_cast<grpc::StatusCode>(answer.code()))
                  << ": " << answer.error_message() << "\n";
        ok = false;
        continue;
      }
      PrintResults(answer.response(), inputs, round_trip_us);
    }
    writer.join();
    const grpc::Status status = stream->Finish();
    if (!status.ok()) {
      std::cerr << "error: " << CodeName(status.error_code()) << ": "
                << status.error_message() << " (after " << answered << " of "
                << batches.size() << " requests)\n";
      return false;
    }
    return ok;
  }

  // One line per result (or its JSON), for a response of either kind.
  template <typename Response>
  static void PrintResults(const Response& response,
                           const std::vector<beex::v1::TextInput>& inputs,
                           int64_t round_trip_us) {
    // One result per input, in order; min() in case a server broke that.
    const int n =
        std::min(response.results_size(), static_cast<int>(inputs.size()));
    for (int i = 0; i < n; ++i) {
      const auto& r = response.results(i);
      if (absl::GetFlag(FLAGS_json)) {
        std::cout << ToJson(r) << "\n";
        continue;
      }
      std::cout << absl::StrFormat(
          "%s  exit layer %d/%d  latency %s (server %s: queue %s, compute "
          "%s)  %s\n",
          Prediction(r), r.exit_layer(), r.num_layers(), Ms(round_trip_us),
          Ms(r.timing().total_us()), Ms(r.timing().queue_us()),
          Ms(r.timing().compute_us()), Describe(inputs[i]));
    }
  }

  static std::string Prediction(const beex::v1::Regression& r) {
    return absl::StrFormat("%.3f", r.value());
  }
  static std::string Prediction(const beex::v1::Classification& r) {
    return absl::StrFormat(
        "%s (%.3f)  scores [%s]", r.label(), r.scores(r.label_index()),
        absl::StrJoin(r.scores(), ", ", [](std::string* out, float s) {
          absl::StrAppendFormat(out, "%.3f", s);
        }));
  }

  static std::string Describe(const beex::v1::TextInput& in) {
    return in.has_text_pair()
               ? absl::StrCat("\"", in.text(), "\" / \"", in.text_pair(), "\"")
               : absl::StrCat("\"", in.text(), "\"");
  }

  std::unique_ptr<Inference::Stub> stub_;
};

// grpc.health.v1 Check: prints the status; true only for SERVING.
bool CheckHealth() {
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_addr), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "error: " << CodeName(status.error_code()) << ": "
              << status.error_message() << "\n";
    return false;
  }
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                   response.status())
            << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Calls a beex server.\n"
      "  beex-client classify --model NAME TEXT [TEXT_PAIR]\n"
      "  beex-client regress --model NAME TEXT [TEXT_PAIR]\n"
      "  beex-client {classify|regress} --model NAME < FILE   (one input per "
      "line; a tab separates a pair; --stream sends them on one stream)\n"
      "  beex-client info --model NAME\n"
      "  beex-client list\n"
      "  beex-client health [--service NAME]   (exit 0 only when SERVING)");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::cerr << absl::ProgramUsageMessage() << "\n";
    return 2;
  }
  const std::string command = args[1];
  Client client(grpc::CreateChannel(absl::GetFlag(FLAGS_addr),
                                    grpc::InsecureChannelCredentials()));
  if (command == "list") return client.Info(true) ? 0 : 1;
  if (command == "health") return CheckHealth() ? 0 : 1;
  if (absl::GetFlag(FLAGS_model).empty()) {
    std::cerr << "--model is required\n";
    return 2;
  }
  if (command == "info") return client.Info(false) ? 0 : 1;
  if (command != "classify" && command != "regress") {
    std::cerr << "unknown command '" << command << "'\n"
              << absl::ProgramUsageMessage() << "\n";
    return 2;
  }
  const auto policy = beex::client::ParsePolicy(absl::GetFlag(FLAGS_policy));
  if (!policy) {
    std::cerr << "unknown --policy '" << absl::GetFlag(FLAGS_policy) << "'\n";
    return 2;
  }
  beex::v1::ExitSettings exit;
  exit.set_policy(*policy);
  if (auto t = absl::GetFlag(FLAGS_threshold))
    exit.set_threshold(static_cast<float>(*t));
  if (auto p = absl::GetFlag(FLAGS_patience)) exit.set_patience(*p);
  exit.set_max_layers(absl::GetFlag(FLAGS_max_layers));
  const bool regress = command == "regress";

  if (args.size() > 4) {
    std::cerr << "give one text, or two for a pair\n";
    return 2;
  }
  if (args.size() >= 3) {
    beex::v1::TextInput in;
    in.set_text(args[2]);
    if (args.size() == 4) in.set_text_pair(args[3]);
    return client.Predict(regress, {in}, exit) ? 0 : 1;
  }
  // One input per line from stdin, sent in requests of --batch inputs.
  std::vector<std::vector<beex::v1::TextInput>> batches;
  const size_t batch = std::max(1, absl::GetFlag(FLAGS_batch));
  std::string line;
  while (std::getline(std::cin, line)) {
    auto in = beex::client::ParseInputLine(line);
    if (!in) continue;
    if (batches.empty() || batches.back().size() == batch)
      batches.emplace_back();
    batches.back().push_back(*std::move(in));
  }
  if (absl::GetFlag(FLAGS_stream)) {
    return client.PredictStream(regress, batches, exit) ? 0 : 1;
  }
  bool ok = true;
  for (const auto& inputs : batches) {
    ok = client.Predict(regress, inputs, exit) && ok;
  }
  return ok ? 0 : 1;
}
