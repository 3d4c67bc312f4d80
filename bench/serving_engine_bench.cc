// The in-process side of the serving benchmark (bench/serving_bench.sh): the
// engine alone on the same texts the gRPC load generator sends, tokenized
// and batched the way the server's workers do: --workers threads, each
// cutting and computing batches of its own with --intra_op_threads compute
// threads (the server's --batch_threads and --intra_op_threads; 0: cores /
// workers). Prints one JSON object: {"inputs_per_second": ..., "batches":
// ..., "mean_exit_layer": ..., "mean_tokens": ...}; the server's
// beex_batch_tokens over beex_batch_size gives its side's mean tokens.
//
//   serving_engine_bench --model models/sst2.beex --inputs texts.txt
//                        [--batch 32] [--seconds 10] [--workers 1]
//                        [--intra_op_threads 0] [--policy none]
// --policy: an exit policy other than the model's default, with that
// policy's own defaults, as the server resolves a request naming one
// (beex-loadgen --policy); "none" computes every block.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "engine/compute_threads.h"
#include "engine/exit_policy.h"
#include "engine/model.h"

ABSL_FLAG(std::string, model, "", "Model bundle (.beex), required");
ABSL_FLAG(std::string, inputs, "", "Texts, one per line, required");
ABSL_FLAG(int, batch, 32, "Inputs per batch (the server's --max_batch_size)");
ABSL_FLAG(double, seconds, 10, "How long to compute");
ABSL_FLAG(int, workers, 1,
          "Threads each cutting and computing batches of their own (the "
          "server's --batch_threads)");
ABSL_FLAG(int, intra_op_threads, 0,
          "Compute threads per worker (0: cores / workers)");
ABSL_FLAG(std::string, policy, "",
          "Exit policy instead of the model's default (none: every block)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the engine in process on a list of texts, as bench/serving_bench.sh "
      "runs it:\n  serving_engine_bench --model M.beex --inputs T.txt");
  if (std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
      rest.size() > 1) {
    std::fprintf(stderr, "unexpected argument: %s\n", rest[1]);
    return 2;
  }
  const std::string model_path = absl::GetFlag(FLAGS_model);
  const std::string inputs_path = absl::GetFlag(FLAGS_inputs);
  const int batch_flag = absl::GetFlag(FLAGS_batch);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  if (model_path.empty() || inputs_path.empty() || batch_flag <= 0 ||
      !(seconds > 0)) {
    std::fprintf(stderr,
                 "--model and --inputs are required, --batch and --seconds "
                 "must be positive (--help lists the flags)\n");
    return 2;
  }
  const size_t batch = static_cast<size_t>(batch_flag);
  auto model = beex::Model::Load(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  std::vector<std::string> texts;
  std::ifstream in(inputs_path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) texts.push_back(line);
  }
  if (texts.empty()) {
    std::fprintf(stderr, "no inputs in %s\n", inputs_path.c_str());
    return 1;
  }
  const int workers = std::max(1, absl::GetFlag(FLAGS_workers));
  const int intra = absl::GetFlag(FLAGS_intra_op_threads);
  beex::SetIntraOpThreads(intra > 0 ? intra
                                    : beex::IntraOpThreadsSharing(workers));
  beex::ExitSettings exit = (*model)->spec().default_exit;
  if (const std::string policy = absl::GetFlag(FLAGS_policy); !policy.empty()) {
    auto kind = beex::ParseExitPolicy(policy);
    if (!kind.ok()) {
      std::fprintf(stderr, "%s\n", kind.status().ToString().c_str());
      return 2;
    }
    exit = beex::WithPolicy(exit, *kind);
  }
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::atomic<size_t> done = 0, batches = 0, tokens = 0;
  std::atomic<double> exit_sum = 0;
  auto work = [&](size_t next) {
    size_t my_done = 0, my_batches = 0, my_tokens = 0;
    double my_exit_sum = 0;
    while (Clock::now() < end) {
      // Tokenizing is part of what the server does per input; count it.
      std::vector<beex::PreparedInput> prepared;
      prepared.reserve(batch);
      for (size_t i = 0; i < batch; ++i, next = (next + 1) % texts.size()) {
        auto tokens = (*model)->Tokenize({texts[next], std::nullopt});
        if (!tokens.ok()) continue;
        my_tokens += tokens->ids.size();
        prepared.push_back({*std::move(tokens), exit});
      }
      for (const auto& p : (*model)->Predict(prepared)) {
        my_exit_sum += p.exit_layer;
      }
      my_done += prepared.size();
      ++my_batches;
    }
    done += my_done;
    batches += my_batches;
    tokens += my_tokens;
    exit_sum += my_exit_sum;
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back(work, w * texts.size() / workers);
  }
  for (auto& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "{\"inputs_per_second\": %.2f, \"inputs\": %zu, \"batches\": %zu, "
      "\"batch\": %zu, \"seconds\": %.3f, \"mean_exit_layer\": %.3f, "
      "\"mean_tokens\": %.2f}\n",
      done / elapsed, done.load(), batches.load(), batch, elapsed,
      done ? exit_sum / done : 0.0,
      done ? static_cast<double>(tokens) / done : 0.0);
  return 0;
}
