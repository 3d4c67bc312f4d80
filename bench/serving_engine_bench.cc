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

#include "engine/compute_threads.h"
#include "engine/exit_policy.h"
#include "engine/model.h"

namespace {

std::string Arg(int argc, char** argv, const std::string& name,
                const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string model_path = Arg(argc, argv, "model", "");
  const std::string inputs_path = Arg(argc, argv, "inputs", "");
  const size_t batch = std::stoul(Arg(argc, argv, "batch", "32"));
  const double seconds = std::stod(Arg(argc, argv, "seconds", "10"));
  if (model_path.empty() || inputs_path.empty() || batch == 0) {
    std::fprintf(stderr,
                 "usage: serving_engine_bench --model M.beex --inputs T.txt "
                 "[--batch 32] [--seconds 10]\n");
    return 2;
  }
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
  const int workers = std::max(1, std::stoi(Arg(argc, argv, "workers", "1")));
  const int intra = std::stoi(Arg(argc, argv, "intra_op_threads", "0"));
  beex::SetIntraOpThreads(intra > 0 ? intra
                                    : beex::IntraOpThreadsSharing(workers));
  beex::ExitSettings exit = (*model)->spec().default_exit;
  if (const std::string policy = Arg(argc, argv, "policy", "");
      !policy.empty()) {
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
