// beex side of the benchmark (bench/run.sh drives it): runs a model over
// pre-tokenized inputs in fixed-size batches and prints one JSON object with
// throughput, batch latency percentiles, mean exit layer, accuracy and memory.
//
//   beex_bench --model models/sst2.beex --tokens TOKENS.tsv --batch 64
//              [--policy default|none] [--threads 2] [--min_seconds 2]
//              [--stages]
// TOKENS.tsv: one input per line, "label<TAB>ids<TAB>type_ids" with ids
// separated by spaces (bench/run.py writes it with the bundle's tokenizer, so
// every runtime sees the same tokens and none pays for tokenizing).
//
// --stages adds a per-stage profile: the kernels the encoder runs (embedding
// gather + LayerNorm, linear layers, attention, norms, gate, exits,
// compaction) timed one by one on this model's shapes and this data's token
// counts at full depth, with the model's own activation path.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/bundle.h"
#include "engine/kernels/attention.h"
#include "engine/kernels/bgemm.h"
#include "engine/kernels/linear.h"
#include "engine/kernels/rowwise.h"
#include "engine/kernels/threads.h"
#include "engine/model.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Input {
  int label = 0;
  beex::Tokens tokens;
};

std::vector<int32_t> Ints(const std::string& s) {
  std::vector<int32_t> out;
  std::istringstream in(s);
  int32_t v;
  while (in >> v) out.push_back(v);
  return out;
}

std::vector<Input> ReadTokens(const std::string& path) {
  std::ifstream in(path);
  std::vector<Input> out;
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find('\t'), b = line.find('\t', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    Input x;
    x.label = std::stoi(line.substr(0, a));
    x.tokens.ids = Ints(line.substr(a + 1, b - a - 1));
    x.tokens.type_ids = Ints(line.substr(b + 1));
    out.push_back(std::move(x));
  }
  return out;
}

double RssMb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * 4096.0 / 1e6;
}

// VmHWM, not getrusage's ru_maxrss: the latter survives execve, so a child
// of a large parent would report the parent's peak.
double PeakRssMb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1e3;
  }
  return 0;
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  return v[i];
}

// Times fn() until at least `seconds` elapsed; returns microseconds per call.
template <typename F>
double TimeUs(F&& fn, double seconds = 0.3) {
  fn();
  int calls = 0;
  const auto start = Clock::now();
  double el = 0;
  do {
    fn();
    ++calls;
    el = std::chrono::duration<double>(Clock::now() - start).count();
  } while (el < seconds);
  return el * 1e6 / calls;
}

// Stage profile on the model's shapes (see the file comment).
void Stages(const beex::Bundle& bundle, const std::vector<Input>& inputs,
            int batch) {
  const auto& a = bundle.header().architecture();
  const int64_t h = a.hidden(), f = a.ffn(), heads = a.heads();
  const int layers = a.layers();
  const uint32_t bits = a.binary() ? a.activation_bits() : 32;
  std::mt19937 rng(1);
  auto random_layer = [&](int64_t n, int64_t k) {
    std::vector<uint8_t> w(n * ((k + 63) / 64) * 8);
    for (auto& b : w) b = rng();
    std::vector<float> alpha(n, 0.05f), bias(n, 0.01f);
    return *beex::Linear::Binary(w, alpha, bias, n, k, bits);
  };
  auto qkv = random_layer(3 * h, h), out = random_layer(h, h);
  auto gc = random_layer(2 * f, h), down = random_layer(h, f);
  // Token rows of one batch of the data's mean length.
  int64_t total = 0;
  for (const auto& in : inputs) total += in.tokens.ids.size();
  const int64_t len = std::max<int64_t>(1, total / inputs.size());
  const int64_t rows = len * batch;
  std::vector<float> x(rows * h), x1(rows * h), ctx(rows * h),
      qkvb(rows * 3 * h), gcb(rows * 2 * f), gated(rows * f);
  std::normal_distribution<float> normal;
  for (auto& v : x) v = normal(rng);
  for (auto& v : qkvb) v = normal(rng) * 0.3f;
  for (auto& v : gcb) v = normal(rng);
  std::vector<float> gamma(h, 1.0f), beta(h, 0.0f);
  std::vector<float> table(1000 * h);
  for (auto& v : table) v = normal(rng);
  std::vector<float> head(a.num_outputs() * h, 0.01f);

  const double embed = TimeUs([&] {
    for (int64_t r = 0; r < rows; ++r) {
      const float* t = table.data() + (r * 7919 % 1000) * h;
      const float* p = table.data() + (r % len) * h;
      for (int64_t i = 0; i < h; ++i) x1[r * h + i] = t[i] + p[i];
    }
    beex::LayerNormRows(x1.data(), rows, gamma, beta, 1e-5f);
  });
  const double lin_qkv =
      TimeUs([&] { qkv->Forward(x.data(), rows, qkvb.data()); });
  const double lin_out =
      TimeUs([&] { out->Forward(ctx.data(), rows, x1.data(), x.data()); });
  const double lin_gc =
      TimeUs([&] { gc->Forward(x1.data(), rows, gcb.data()); });
  const double lin_down =
      TimeUs([&] { down->Forward(gated.data(), rows, x1.data(), x.data()); });
  for (auto& v : qkvb) v = normal(rng) * 0.3f;
  const beex::Attention attn(h, heads);
  const std::vector<int64_t> lengths(batch, len);
  const double attention =
      TimeUs([&] { attn.Forward(qkvb.data(), lengths, ctx.data()); });
  const double norms = TimeUs([&] {
    beex::LayerNormRows(x1.data(), rows, gamma, beta, 1e-5f);
    beex::LayerNormRows(x.data(), rows, gamma, beta, 1e-5f);
  });
  const double gate =
      TimeUs([&] { beex::GateRows(gcb.data(), rows, f, gated.data()); });
  std::vector<float> pooled(h);
  volatile float sink = 0;
  const double exits = TimeUs([&] {
    for (int s = 0; s < batch; ++s) {
      std::fill(pooled.begin(), pooled.end(), 0.0f);
      for (int64_t t = 0; t < len; ++t) {
        for (int64_t i = 0; i < h; ++i) pooled[i] += x[(s * len + t) * h + i];
      }
      for (uint32_t o = 0; o < a.num_outputs(); ++o) {
        float acc = 0;
        for (int64_t i = 0; i < h; ++i) acc += head[o * h + i] * pooled[i];
        sink = sink + acc;
      }
    }
  });
  // Compaction moves, on average, half the rows once per block.
  const double compaction = TimeUs([&] {
    std::memmove(x.data(), x.data() + rows / 2 * h, rows / 2 * h * 4);
  });
  const double linear = lin_qkv + lin_out + lin_gc + lin_down;
  const double per_block =
      linear + attention + norms + gate + exits + compaction;
  const double total_us = embed + layers * per_block;
  std::printf(
      "\"stages\": {\"rows\": %ld, \"activation_bits\": %u, \"bgemm_isa\": "
      "\"%s\", \"embedding_us\": %.1f, \"linear_us\": %.1f, \"linear_qkv_us\": "
      "%.1f, \"linear_out_us\": %.1f, \"linear_gate_cand_us\": %.1f, "
      "\"linear_down_us\": %.1f, \"attention_us\": %.1f, \"norms_us\": %.1f, "
      "\"gate_us\": %.1f, \"exits_us\": %.1f, \"compaction_us\": %.1f, "
      "\"full_depth_us\": %.1f, \"layers\": %d}, ",
      static_cast<long>(rows), bits,
      std::string(beex::bgemm::IsaName(beex::bgemm::ActiveIsa())).c_str(),
      embed, layers * linear, layers * lin_qkv, layers * lin_out,
      layers * lin_gc, layers * lin_down, layers * attention, layers * norms,
      layers * gate, layers * exits, layers * compaction, total_us, layers);
}

int Main(int argc, char** argv) {
  std::string model_path, tokens_path, policy = "default";
  int batch = 1, threads = 2;
  double min_seconds = 2.0;
  bool stages = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--model")
      model_path = next();
    else if (arg == "--tokens")
      tokens_path = next();
    else if (arg == "--batch")
      batch = std::stoi(next());
    else if (arg == "--policy")
      policy = next();
    else if (arg == "--threads")
      threads = std::stoi(next());
    else if (arg == "--min_seconds")
      min_seconds = std::stod(next());
    else if (arg == "--stages")
      stages = true;
    else {
      std::fprintf(stderr, "unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  beex::SetIntraOpThreads(threads);
  beex::ApplyIntraOpThreads();
  const auto inputs = ReadTokens(tokens_path);
  if (inputs.empty()) {
    std::fprintf(stderr, "no inputs in %s\n", tokens_path.c_str());
    return 1;
  }
  const double rss_before = RssMb();
  auto model = beex::Model::Load(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  beex::ExitSettings exit = (*model)->spec().default_exit;
  if (policy == "none") exit = beex::ExitSettings{};
  std::vector<beex::PreparedInput> prepared;
  for (const auto& in : inputs) prepared.push_back({in.tokens, exit});

  auto run_pass = [&](std::vector<double>* latencies, int64_t* correct,
                      int64_t* exit_sum) {
    for (size_t b = 0; b < prepared.size(); b += batch) {
      const size_t e = std::min(prepared.size(), b + batch);
      const auto t0 = Clock::now();
      const auto preds = (*model)->Predict({prepared.data() + b, e - b});
      const double ms =
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (latencies) latencies->push_back(ms);
      for (size_t i = 0; i < preds.size(); ++i) {
        if (correct) *correct += preds[i].label_index == inputs[b + i].label;
        if (exit_sum) *exit_sum += preds[i].exit_layer;
      }
    }
  };
  // Warm-up: oneDNN creates one primitive per distinct row count.
  run_pass(nullptr, nullptr, nullptr);
  const double rss_loaded = RssMb();
  std::vector<double> latencies;
  int64_t correct = 0, exit_sum = 0, done = 0;
  int passes = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    int64_t c = 0, x = 0;
    run_pass(&latencies, &c, &x);
    if (passes == 0) {
      correct = c;
      exit_sum = x;
    }
    done += prepared.size();
    ++passes;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds);

  std::printf("{");
  if (stages) {
    auto bundle = beex::Bundle::Read(model_path);
    if (bundle.ok()) Stages(*bundle, inputs, batch);
  }
  std::printf(
      "\"runtime\": \"beex\", \"policy\": \"%s\", \"batch\": %d, "
      "\"threads\": %d, \"n\": %zu, \"passes\": %d, \"sentences_per_s\": "
      "%.1f, \"p50_ms\": %.4f, \"p99_ms\": %.4f, \"mean_exit_layer\": %.4f, "
      "\"accuracy\": %.4f, \"peak_rss_mb\": %.1f, \"model_rss_mb\": %.1f, "
      "\"bgemm_isa\": \"%s\"}\n",
      policy.c_str(), batch, threads, inputs.size(), passes, done / elapsed,
      Percentile(latencies, 0.5), Percentile(latencies, 0.99),
      static_cast<double>(exit_sum) / inputs.size(),
      static_cast<double>(correct) / inputs.size(), PeakRssMb(),
      rss_loaded - rss_before,
      std::string(beex::bgemm::IsaName(beex::bgemm::ActiveIsa())).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
